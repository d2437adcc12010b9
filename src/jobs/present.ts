import type { z } from 'zod';
import type * as contract from '../api/contract/schemas.js';
import type { ConversionOptions } from '../convert/options.js';
import { fileCounts, isJobFinished } from '../db/jobs.js';
import type { DownloadSigner } from '../signing/download-url.js';
import type { Job } from '../db/schema.js';
import { percentDone } from '../../workflows/definitions.js';

/** The public JSON shape of a job. */
/** True once an ended job is older than the archive retention (KILN_RETENTION_ARCHIVES): its archive is no longer served. */
export function isArchiveExpired(job: Job, archiveRetentionSeconds: number, now: Date = new Date()): boolean {
  return job.completed_at !== null && now.getTime() - job.completed_at.getTime() > archiveRetentionSeconds * 1000;
}

export function presentJob(job: Job, signer?: DownloadSigner, archiveRetentionSeconds = Infinity, now: Date = new Date()): z.input<typeof contract.Job> {
  const counts = fileCounts(job);
  const body: z.input<typeof contract.Job> = {
    id: job.id,
    object: 'job',
    status: job.status,
    counts,
    progress: percentDone(counts),
    concurrency: job.concurrency,
    options: job.options as ConversionOptions,
    webhook_url: job.webhook_url,
    webhook_events: job.webhook_events,
    webhook_metadata: job.webhook_metadata,
    tag: job.tag,
    workflow_id: job.workflow_id,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
    started_at: job.started_at?.toISOString() ?? null,
    completed_at: job.completed_at?.toISOString() ?? null,
  };
  if (signer) body.stream_url = signer.signStream('job-events', job.id, now).url;
  if (isArchiveExpired(job, archiveRetentionSeconds, now)) body.archive_expired = true;
  else if (signer && isJobFinished(job.status) && counts.succeeded > 0) {
    const { url, expiresAt } = signer.signArchive(job.id, now);
    body.archive_url = url;
    body.archive_expires_at = expiresAt.toISOString();
  }
  return body;
}
