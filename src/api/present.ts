import type { z } from 'zod';
import type * as contract from './contract/schemas.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { percentDone } from '../model/job-counts.js';
import type { Conversion, Job } from '../db/schema.js';
import { fileCounts, isJobFinished } from '../db/jobs.js';
import type { DownloadSigner } from '../signing/download-url.js';
import { inputOf, outputOf, renditionsOf, signRenditions } from '../conversions/event-data.js';
import { isArchiveExpired } from '../jobs/archive.js';

/** The public JSON shapes of conversions and jobs, as every route that answers one gives them. */

/** The public JSON shape of a conversion, shared by the API and event payloads. */
export function presentConversion(row: Conversion, signer?: DownloadSigner, now: Date = new Date()): z.input<typeof contract.Conversion> {
  const body: z.input<typeof contract.Conversion> = {
    id: row.id,
    object: 'conversion',
    status: row.status,
    options: row.options as ConversionOptions,
    input: inputOf(row),
    source_url: row.source_url,
    output: outputOf(row),
    error: row.error_code ? { code: row.error_code, message: row.error_message } : null,
    attempts: row.attempts,
    webhook_url: row.webhook_url,
    webhook_events: row.webhook_events,
    webhook_metadata: row.webhook_metadata,
    tag: row.tag,
    workflow_id: row.workflow_id,
    job_id: row.job_id,
    job_index: row.job_index,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
  if (signer) body.stream_url = signer.signStream('conversion-events', row.id, now).url;
  if (row.input_purged_at) body.original_purged_at = row.input_purged_at.toISOString();
  if (row.output_purged_at) body.output_purged_at = row.output_purged_at.toISOString();
  if (row.status === 'succeeded' && signer && !row.output_purged_at) {
    const { url, expiresAt } = signer.sign(row.id, now);
    body.download_url = url;
    body.download_expires_at = expiresAt.toISOString();
  }
  const outputs = renditionsOf(row);
  if (outputs) body.outputs = signer && !row.output_purged_at ? signRenditions(outputs, row.id, signer, now) : outputs;
  return body;
}

/** The public JSON shape of a job. */
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
