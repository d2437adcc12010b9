import { storeConversionEvents } from '../conversions/events.js';
import { conversionRunSettings } from '../conversions/workflow.js';
import { findConversionsOf, type RequestWebhook } from '../db/conversions.js';
import { insertQueuedJob, type AcceptedJob } from '../db/jobs.js';
import type { Conversion, Job } from '../db/schema.js';
import { safeFilename } from '../filenames.js';
import { newId } from '../ids.js';
import { startJobWorkflow } from '../jobs/workflow.js';
import type { LogFunction } from '../log.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { ApiError } from '../problem.js';
import { admitConversions, jobFilesLimit } from '../limits/quotas.js';
import { conversionInputKey } from '../storage/keys.js';
import { deleteBlobsIfStoreFails } from '../storage/orphan-blobs.js';
import type { FieldProblem } from '../validation.js';
import type { IncomingFile } from './files.js';
import { startAccepted, type IntakeDependencies } from './intake.js';
import { invalid, resolveOptions } from './options.js';
import { parseConversionWebhookFields } from './request-webhook.js';
import { checkedSourceUrl, sourceFilename } from './sources.js';

/** Fields of a job request that are neither options nor webhook fields. */
export const JOB_FIELDS = ['concurrency', 'inputs'] as const;

/** What a job asks for, however it came: options shared and per file, how many at once, its webhook. */
export interface JobRequest {
  /** The options the files share (complete on their own). */
  options: ConversionOptions;
  /** Each file's options: the shared ones, with that file's own over them. */
  perFile: ConversionOptions[];
  concurrency: number;
  webhook: RequestWebhook;
}

/** A job's request as sent: text fields, as forms send them (a JSON body's made text). */
export interface JobFields {
  /** The options every file shares, and `preset`. */
  shared: Record<string, string>;
  /** Each file's own options over the shared ones (its own `preset` replaces the job's), in file order. */
  overrides: ReadonlyArray<Record<string, string> | undefined>;
  files: number;
  concurrency: string | number | undefined;
  /** webhook_url, webhook_metadata, tag, and webhook_events as a form sends it. */
  webhook: Record<string, string>;
  /** webhook_events as a JSON body sends it. */
  webhookEvents?: string[];
}

function parseConcurrency(raw: string | number | undefined, max: number): number {
  if (raw === undefined) return max;
  const value = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw invalid('invalid_options', [{ field: 'concurrency', message: `concurrency must be a whole number from 1 to ${max} (KILN_JOB_CONCURRENCY)` }]);
  }
  return value;
}

/**
 * A job's options, every file's, concurrency and webhook, each checked: the shared options
 * first (complete on their own), then each file's with its own over them, every problem of
 * every file reported at once, named by its place (`inputs[i].options.<field>`).
 */
export async function readJobRequest(deps: IntakeDependencies, accountId: string, fields: JobFields): Promise<JobRequest> {
  const maxFiles = await jobFilesLimit(deps.db, deps.config, accountId);
  if (fields.files > maxFiles) {
    // 400, not 429: the same job never passes later; a smaller one does.
    throw new ApiError(400, 'too_many_files', `a job of this account takes at most ${maxFiles} files (its job_files quota)`, {
      quota: 'job_files',
      limit: maxFiles,
      limit_files: maxFiles,
    });
  }
  const webhook = parseConversionWebhookFields(fields.webhook, deps.guard, fields.webhookEvents);
  const concurrency = parseConcurrency(fields.concurrency, deps.config.jobConcurrency);
  const [options] = await resolveOptions(deps.db, deps.config, accountId, [{ fields: fields.shared, renditions: false }]);
  const own = Array.from({ length: fields.files }, (_, index) => fields.overrides[index]).flatMap((override, index) =>
    override && Object.keys(override).length > 0 ? [{ index, fields: { ...fields.shared, ...override } }] : [],
  );
  const resolved = await resolveOptions(
    deps.db,
    deps.config,
    accountId,
    own.map(({ index, fields: merged }) => ({ fields: merged, at: `inputs[${index}].options`, renditions: false })),
  );
  const perFile = Array.from({ length: fields.files }, () => options!);
  own.forEach(({ index }, n) => (perFile[index] = resolved[n]!));
  return { options: options!, perFile, concurrency, webhook };
}

/** Where a job's file comes from. */
export type JobSource =
  | { kind: 'upload'; file: IncomingFile }
  | { kind: 'url'; url: string; filename: string | undefined }
  /** An earlier conversion of the account: its original, shared (never copied). */
  | { kind: 'conversion'; original: Conversion; filename: string | undefined };

/** A JSON job's input, as sent: one of conversion_id and source_url. */
export interface NamedSource {
  conversion_id?: string | undefined;
  source_url?: string | undefined;
  filename?: string | undefined;
}

/**
 * The sources a JSON job names: URLs checked now (scheme, credentials, literal addresses),
 * earlier conversions looked up in the account (another account's is not found; 422
 * source_not_found, as is one whose original is past its retention).
 */
export async function readNamedSources(deps: IntakeDependencies, accountId: string, inputs: readonly NamedSource[]): Promise<JobSource[]> {
  const named = inputs.flatMap((input) => (input.conversion_id === undefined ? [] : [input.conversion_id]));
  const found = new Map((await findConversionsOf(deps.db, accountId, [...new Set(named)])).map((row) => [row.id, row]));
  const missing: FieldProblem[] = [];
  const sources = inputs.map((input, index): JobSource | undefined => {
    if (input.source_url !== undefined)
      return { kind: 'url', url: checkedSourceUrl(input.source_url, deps.guard, `inputs[${index}].source_url`), filename: input.filename };
    const field = `inputs[${index}].conversion_id`;
    const original = found.get(input.conversion_id!);
    if (!original) missing.push({ field, message: `no conversion ${input.conversion_id}` });
    else if (original.input_purged_at) missing.push({ field, message: `the original of ${original.id} is past its retention (KILN_RETENTION_ORIGINALS)` });
    else return { kind: 'conversion', original, filename: input.filename };
    return undefined;
  });
  if (missing.length > 0) throw new ApiError(422, 'source_not_found', missing.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: missing });
  return sources as JobSource[];
}

/** Bytes a job's uploads add to what the account stores (earlier originals are shared, URLs are fetched later). */
function uploadedBytes(sources: readonly JobSource[]): number {
  return sources.reduce((sum, source) => sum + (source.kind === 'upload' ? source.file.bytes : 0), 0);
}

/**
 * Accepts a job: each uploaded original stored under the account (all deleted again if
 * any step fails), the job, its files and their `file.uploaded` events stored together
 * (a file fetched from a URL reports it once fetched), then its run started.
 */
export async function acceptJob(
  deps: IntakeDependencies,
  log: LogFunction,
  accountId: string,
  request: JobRequest,
  sources: readonly JobSource[],
): Promise<Job> {
  // Filled as originals are stored, so a failure part-way deletes those already in the store.
  const imported: string[] = [];
  const { job, uploaded } = await deleteBlobsIfStoreFails(deps.blobs, log, imported, async () => {
    const files: AcceptedJob['files'] = [];
    for (const [index, source] of sources.entries()) {
      const id = newId('cnv');
      const options = request.perFile[index]!;
      if (source.kind === 'upload') {
        const inputKey = conversionInputKey(accountId, id);
        await deps.blobs.importFile(inputKey, source.file.path);
        imported.push(inputKey);
        files.push({ id, options, inputKey, filename: source.file.filename, bytes: source.file.bytes, contentType: source.file.contentType });
      } else if (source.kind === 'url') {
        const filename = source.filename === undefined ? sourceFilename(source.url) : safeFilename(source.filename, 'source');
        files.push({ id, options, inputKey: conversionInputKey(accountId, id), filename, bytes: 0, contentType: undefined, sourceUrl: source.url });
      } else {
        const { original } = source;
        // Shared, never copied: an original is never changed or deleted while a conversion refers to it.
        const filename = source.filename === undefined ? original.input_filename : safeFilename(source.filename, 'source');
        files.push({ id, options, inputKey: original.input_key, filename, bytes: original.input_bytes, contentType: original.input_content_type ?? undefined });
      }
    }
    return deps.db.transaction().execute(async (trx) => {
      await admitConversions(trx, deps.config, accountId, { conversions: files.length, bytes: uploadedBytes(sources) });
      const stored = await insertQueuedJob(trx, {
        id: newId('job'),
        accountId,
        options: request.options,
        concurrency: request.concurrency,
        webhook: request.webhook,
        files,
      });
      const withOriginals = stored.conversions.filter((row) => row.source_url === null);
      return { job: stored.job, uploaded: await storeConversionEvents(trx, withOriginals, 'file.uploaded', deps.delivery.defaultRetrySchedule) };
    });
  });
  await startAccepted(deps, log, job.id, uploaded, () => startJobWorkflow(deps.temporal, job, conversionRunSettings(deps.config)));
  return job;
}
