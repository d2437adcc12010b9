import type { z } from 'zod';
import type * as contract from '../api/contract/schemas.js';
import type { ConversionOptions } from '../convert/options.js';
import { fileCounts } from '../db/jobs.js';
import type { Job } from '../db/schema.js';
import { percentDone } from '../../workflows/definitions.js';

/** The public JSON shape of a job. */
export function presentJob(job: Job): z.input<typeof contract.Job> {
  const counts = fileCounts(job);
  return {
    id: job.id,
    object: 'job',
    status: job.status,
    counts,
    progress: percentDone(counts),
    concurrency: job.concurrency,
    options: job.options as ConversionOptions,
    webhook_url: job.webhook_url,
    webhook_metadata: job.webhook_metadata,
    tag: job.tag,
    workflow_id: job.workflow_id,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
    started_at: job.started_at?.toISOString() ?? null,
    completed_at: job.completed_at?.toISOString() ?? null,
  };
}
