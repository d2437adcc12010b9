import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { KilnConfig } from '../../config.js';
import { OPTION_NAMES, OUTPUTS_FIELD, parseConversionOptions, PRESET_FIELD, withPreset } from '../../convert/options.js';
import { type ConversionOptions } from '../../model/conversion-options.js';
import { presetsNamed } from '../../db/presets.js';
import { checkedSourceUrl, sourceFilename } from '../source-fields.js';
import { findConversionsOf } from '../../db/conversions.js';
import { findJob, findJobById, insertQueuedJob, isJobFinished, jobOutputs, listJobConversions, listJobs, type AcceptedJob } from '../../db/jobs.js';
import type { Kysely } from 'kysely';
import { CONVERSION_STATUSES, JOB_STATUSES, type Database, type Job } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { presentConversion } from '../present.js';
import { storeConversionEvents } from '../../conversions/events.js';
import { conversionRunSettings, inputKeyFor } from '../../conversions/workflow.js';
import { storeJobEnd } from '../../jobs/events.js';
import { presentJob } from '../present.js';
import { isArchiveExpired } from '../../jobs/archive.js';
import { cancelJobWorkflow, startJobWorkflow } from '../../jobs/workflow.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { fieldProblems, type FieldProblem } from '../../validation.js';
import { accountOf } from '../auth.js';
import { keyOrLink, type KeyOrLink } from '../link-auth.js';
import { streamEvents, streamSettings } from '../event-stream.js';
import { JOB_FINAL_EVENT_TYPES } from '../../model/event-catalog.js';
import { entryNames, zipOfBlobs } from '../../jobs/archive.js';
import { contentDisposition } from '../content-disposition.js';
import type { ApiDependencies } from '../context.js';
import { deleteBlobsIfStoreFails } from '../orphan-blobs.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId, queryChoice } from '../params.js';
import { ApiError } from '../problem.js';
import { requestLog } from '../request-log.js';
import { receiveUpload, refuseNonImages } from '../upload.js';
import { CONVERSION_WEBHOOK_FIELDS, parseConversionWebhookFields, type ConversionWebhookFields } from '../webhook-fields.js';
import { hasIdempotencyKey, idempotent, idempotentAction, idempotentJson, requestFingerprint } from '../idempotency.js';

const jobNotFound = (id: string): ApiError => new ApiError(404, 'job_not_found', `no job ${id}`);

/** The job a key's account owns, or the one a signed link names. */
async function jobForReader(db: Kysely<Database>, reader: KeyOrLink): Promise<Job> {
  const job = reader.accountId ? await findJob(db, reader.accountId, reader.id) : await findJobById(db, reader.id);
  if (!job) throw jobNotFound(reader.id);
  return job;
}

/** Fields of a job request that are neither options nor webhook fields. */
const JOB_FIELDS = ['concurrency', 'inputs'] as const;

/** An option's value as JSON may give it: numbers for the numeric options, booleans for the flags. */
const optionValue = z.union([z.string(), z.number(), z.boolean()]);
const optionOverrides = z.record(z.string(), optionValue).describe("Options for this file alone, over the job's shared ones");

/** One entry of `inputs` in a multipart job: the file at the same position. */
const uploadedInput = z.object({ options: optionOverrides.optional() }).strict();

/**
 * One entry of `inputs` in a JSON job. Each names its source by one key: `conversion_id`
 * (an earlier upload of this account, whose original is converted again) today; other
 * source kinds (a URL) are further keys beside it.
 */
export const jobInput = z
  .object({
    conversion_id: z.string().optional().describe('An earlier conversion of this account (cnv_…): its original file is the input'),
    source_url: z.string().optional().describe('Or an http(s) URL the file’s workflow fetches the input from (as a conversion’s source_url)'),
    filename: z.string().min(1).max(255).optional().describe("The input's name in this job (default: the source's)"),
    options: optionOverrides.optional(),
  })
  .strict()
  .refine(
    (input) => (input.conversion_id === undefined) !== (input.source_url === undefined),
    'each input names its source by conversion_id or by source_url, one of them',
  );

/** A JSON job: shared options at the top level, as the multipart form has them. */
export const jobBody = z
  .object({
    ...Object.fromEntries(OPTION_NAMES.map((name) => [name, optionValue.optional()])),
    output_format: optionValue.optional().describe('Required, here or in the preset'),
    preset: z.string().optional().describe('A preset of the account: its options under the ones given here'),
    inputs: z.array(jobInput).min(1, 'inputs must name at least one input'),
    concurrency: z.number().int().optional().describe('Files converting at once, 1 to KILN_JOB_CONCURRENCY (its default)'),
    webhook_url: z.string().optional(),
    webhook_events: z.array(z.string()).optional().describe('The event types webhook_url gets (default: all)'),
    webhook_metadata: z.record(z.string(), z.unknown()).optional(),
    tag: z.string().optional(),
  })
  .strict();

function invalid(code: string, problems: FieldProblem[]): ApiError {
  return new ApiError(400, code, problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '), { errors: problems });
}

/** Option values as the option parser reads them (form fields are text). */
function asFields(values: Record<string, string | number | boolean | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])));
}

/**
 * The shared options (complete on their own) and each file's: the shared ones with that
 * file's overrides. Every problem of every file is reported at once, named by its place.
 */
function fileOptions(
  shared: Record<string, string>,
  overrides: Array<Record<string, string> | undefined>,
  count: number,
  config: KilnConfig,
  presets: ReadonlyMap<string, Record<string, string>>,
): { options: ConversionOptions; perFile: ConversionOptions[] } {
  const parse = (fields: Record<string, string>): ReturnType<typeof parseConversionOptions> => {
    if (OUTPUTS_FIELD in fields) {
      return { ok: false, problems: [{ field: OUTPUTS_FIELD, message: 'outputs are for a single conversion; each file of a job has one output' }] };
    }
    // A file's own preset replaces the job's; fields given explicitly (the job's, then the file's) override either.
    const resolved = withPreset(fields, presets);
    return resolved.ok ? parseConversionOptions(resolved.fields, config) : resolved;
  };
  const base = parse(shared);
  if (!base.ok) throw invalid('invalid_options', base.problems);
  const problems: FieldProblem[] = [];
  const perFile = Array.from({ length: count }, (_, index) => {
    const own = overrides[index];
    if (!own || Object.keys(own).length === 0) return base.options;
    const parsed = parse({ ...shared, ...own });
    if (parsed.ok) return parsed.options;
    problems.push(...parsed.problems.map((p) => ({ ...p, field: `inputs[${index}].options${p.field ? `.${p.field}` : ''}` })));
    return base.options;
  });
  if (problems.length > 0) throw invalid('invalid_options', problems);
  return { options: base.options, perFile };
}

function parseConcurrency(raw: string | number | undefined, config: KilnConfig): number {
  if (raw === undefined) return config.jobConcurrency;
  const value = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > config.jobConcurrency) {
    throw invalid('invalid_options', [
      { field: 'concurrency', message: `concurrency must be a whole number from 1 to ${config.jobConcurrency} (KILN_JOB_CONCURRENCY)` },
    ]);
  }
  return value;
}

function tooManyFiles(max: number): ApiError {
  return new ApiError(400, 'too_many_files', `a job takes at most ${max} files (KILN_MAX_JOB_FILES)`, { limit_files: max });
}

/** What a job request asks for, however it came. */
interface JobRequest {
  options: ConversionOptions;
  concurrency: number;
  webhook: ConversionWebhookFields;
  files: AcceptedJob['files'];
}

export function jobRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

  /** The account's presets that the job's shared options or any file's name. */
  function namedPresets(accountId: string, shared: Record<string, string>, overrides: Array<Record<string, string> | undefined>) {
    const names = [shared, ...overrides].flatMap((fields) => (fields?.[PRESET_FIELD] === undefined ? [] : [fields[PRESET_FIELD]]));
    return presetsNamed(db, accountId, [...new Set(names)]);
  }

  /** Stores the job, its files and their `file.uploaded` together, then starts its workflow. */
  async function acceptJob(ctx: Context, request: JobRequest, importedKeys: string[]): Promise<void> {
    const log = requestLog(ctx, deps.log);
    const id = newId('job');
    const { job, uploaded } = await deleteBlobsIfStoreFails(deps.blobs, log, importedKeys, () =>
      db.transaction().execute(async (trx) => {
        const stored = await insertQueuedJob(trx, { id, accountId: accountOf(ctx).id, ...request });
        // Files fetched from a URL report file.uploaded once their fetch has stored them.
        const uploaded = stored.conversions.filter((row) => row.source_url === null);
        const events = await storeConversionEvents(trx, uploaded, 'file.uploaded', deps.delivery.defaultRetrySchedule);
        return { job: stored.job, uploaded: events };
      }),
    );
    // Not awaited: the answer never waits on webhooks.
    void dispatchOrDefer(
      deps.deliveries,
      uploaded.flatMap((event) => event.deliveries),
      log,
    );
    try {
      await startJobWorkflow(deps.temporal, job, conversionRunSettings(config));
    } catch (error) {
      // The job is stored and stays queued; the reconcile schedule starts its workflow once Temporal answers.
      log(`could not start the workflow of ${id} yet; it stays queued`, error);
    }
    ctx.status = 202;
    ctx.set('Location', `/v1/jobs/${id}`);
    ctx.body = presentJob(job, deps.signer, deps.config.retention.archives);
  }

  /** Several files in one multipart body (each a `file` field), options and webhook fields shared. */
  async function createFromUpload(ctx: Context): Promise<void> {
    const spool = {
      dir: deps.spoolDir,
      maxBytes: config.maxUploadBytes,
      hashed: hasIdempotencyKey(ctx),
      maxFiles: config.maxJobFiles,
      maxTotalBytes: config.maxJobBytes,
    };
    const upload = await receiveUpload(ctx, spool, (fields) => {
      const shared = Object.fromEntries(
        Object.entries(fields).filter(
          ([name]) => !(CONVERSION_WEBHOOK_FIELDS as readonly string[]).includes(name) && !(JOB_FIELDS as readonly string[]).includes(name),
        ),
      );
      let inputs: z.infer<typeof uploadedInput>[] = [];
      if (fields.inputs !== undefined) {
        let raw: unknown;
        try {
          raw = JSON.parse(fields.inputs);
        } catch {
          throw invalid('invalid_options', [{ field: 'inputs', message: 'inputs must be a JSON array, one object per file' }]);
        }
        const parsed = z.array(uploadedInput).safeParse(raw);
        if (!parsed.success)
          throw invalid(
            'invalid_options',
            fieldProblems(parsed.error, 'key').map((p) => ({ ...p, field: `inputs${p.field ? `.${p.field}` : ''}` })),
          );
        inputs = parsed.data;
      }
      return {
        shared,
        inputs,
        concurrency: parseConcurrency(fields.concurrency, config),
        webhook: parseConversionWebhookFields(fields, deps.guard),
      };
    });
    let accepted = false;
    try {
      const { files } = upload;
      if (files.length === 0) throw new ApiError(400, 'file_required', 'send the images as multipart fields named "file", one per image');
      const empty = files.findIndex((file) => file.bytes === 0);
      if (empty >= 0) throw new ApiError(400, 'empty_file', `file ${empty} (${files[empty]!.filename}) is empty`, { index: empty });
      refuseNonImages(files);
      const { shared, inputs, concurrency, webhook } = upload.fields;
      if (inputs.length > files.length) {
        throw invalid('invalid_options', [{ field: 'inputs', message: `inputs has ${inputs.length} entries for ${files.length} files` }]);
      }
      const overrides = inputs.map((input) => input.options && asFields(input.options));
      const { options, perFile } = fileOptions(shared, overrides, files.length, config, await namedPresets(accountOf(ctx).id, shared, overrides));
      const sameUpload = requestFingerprint(
        JSON.stringify(Object.entries(upload.rawFields).sort()),
        ...files.flatMap((file) => [file.sha256 ?? '', file.filename, file.contentType ?? '']),
      );
      await idempotent(ctx, deps, sameUpload, async () => {
        const jobFiles: AcceptedJob['files'] = [];
        // Filled as the files are imported, so a failure part-way deletes those already in the store.
        const imported: string[] = [];
        await deleteBlobsIfStoreFails(deps.blobs, requestLog(ctx, deps.log), imported, async () => {
          for (const [index, file] of files.entries()) {
            const id = newId('cnv');
            const inputKey = inputKeyFor(id);
            await deps.blobs.importFile(inputKey, file.path);
            imported.push(inputKey);
            jobFiles.push({ id, options: perFile[index]!, inputKey, filename: file.filename, bytes: file.bytes, contentType: file.contentType });
          }
        });
        accepted = true;
        await acceptJob(ctx, { options, concurrency, webhook, files: jobFiles }, imported);
      });
    } finally {
      if (!accepted) await upload.discard();
    }
  }

  /** A JSON body whose `inputs` name files Kiln already has. */
  const createFromInputs = idempotentJson(deps, async (ctx, body) => {
    const parsed = jobBody.safeParse(body);
    if (!parsed.success) throw invalid('invalid_body', fieldProblems(parsed.error, 'field'));
    const request = parsed.data;
    if (request.inputs.length > config.maxJobFiles) throw tooManyFiles(config.maxJobFiles);
    const given = request as Record<string, unknown>;
    const shared = asFields(Object.fromEntries([...OPTION_NAMES, PRESET_FIELD].map((name) => [name, given[name] as string | number | boolean | undefined])));
    const overrides = request.inputs.map((input) => input.options && asFields(input.options));
    const { options, perFile } = fileOptions(shared, overrides, request.inputs.length, config, await namedPresets(accountOf(ctx).id, shared, overrides));
    const webhook = parseConversionWebhookFields(
      asFields({
        webhook_url: request.webhook_url,
        tag: request.tag,
        webhook_metadata: request.webhook_metadata === undefined ? undefined : JSON.stringify(request.webhook_metadata),
      }),
      deps.guard,
      request.webhook_events,
    );
    const concurrency = parseConcurrency(request.concurrency, config);
    const earlier = request.inputs.flatMap((input) => (input.conversion_id === undefined ? [] : [input.conversion_id]));
    const sources = new Map((await findConversionsOf(db, accountOf(ctx).id, [...new Set(earlier)])).map((row) => [row.id, row]));
    const missing = request.inputs.flatMap((input, index) => {
      if (input.conversion_id === undefined) return [];
      const source = sources.get(input.conversion_id);
      if (!source) return [{ field: `inputs[${index}].conversion_id`, message: `no conversion ${input.conversion_id}` }];
      if (source.input_purged_at) {
        return [
          { field: `inputs[${index}].conversion_id`, message: `the original of ${input.conversion_id} is past its retention (KILN_RETENTION_ORIGINALS)` },
        ];
      }
      return [];
    });
    // URLs are checked now (scheme, credentials, literal addresses); the rest when each is fetched.
    const urls = request.inputs.map((input, index) =>
      input.source_url === undefined ? undefined : checkedSourceUrl(input.source_url, deps.guard, `inputs[${index}].source_url`),
    );
    if (missing.length > 0) {
      throw new ApiError(422, 'source_not_found', missing.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: missing });
    }
    const files = request.inputs.map((input, index) => {
      const sourceUrl = urls[index];
      if (sourceUrl !== undefined) {
        const id = newId('cnv');
        return {
          id,
          options: perFile[index]!,
          inputKey: inputKeyFor(id),
          filename: input.filename ?? sourceFilename(sourceUrl),
          bytes: 0,
          contentType: undefined,
          sourceUrl,
        };
      }
      const source = sources.get(input.conversion_id!)!;
      // The source's original is shared, never copied: originals are never changed or deleted while a conversion refers to them.
      return {
        id: newId('cnv'),
        options: perFile[index]!,
        inputKey: source.input_key,
        filename: input.filename ?? source.input_filename,
        bytes: source.input_bytes,
        contentType: source.input_content_type ?? undefined,
      };
    });
    await acceptJob(ctx, { options, concurrency, webhook, files }, []);
  });

  router.post('/v1/jobs', async (ctx) => {
    if (ctx.is('multipart/form-data')) return createFromUpload(ctx);
    if (ctx.is('application/json')) return createFromInputs(ctx);
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the images as multipart/form-data "file" fields, or a JSON body whose inputs name earlier uploads or URLs',
    );
  });

  router.get('/v1/jobs', async (ctx) => {
    const page = readPage(ctx.query);
    const status = queryChoice(ctx.query, 'status', JOB_STATUSES);
    const rows = await listJobs(db, accountOf(ctx).id, { ...page, limit: page.limit + 1, status });
    ctx.body = pageEnvelope(rows, page.limit, (job) => presentJob(job, deps.signer, deps.config.retention.archives));
  });

  const jobOr404 = (ctx: Context): Promise<Job> => jobForReader(db, { id: pathId(ctx, 'job', jobNotFound), accountId: accountOf(ctx).id });

  router.get('/v1/jobs/:id', async (ctx) => {
    ctx.body = presentJob(await jobOr404(ctx), deps.signer, deps.config.retention.archives);
  });

  router.get('/v1/jobs/:id/conversions', async (ctx) => {
    const job = await jobOr404(ctx);
    const page = readPage(ctx.query);
    const status = queryChoice(ctx.query, 'status', CONVERSION_STATUSES);
    const rows = await listJobConversions(db, job.id, { ...page, limit: page.limit + 1, status });
    ctx.body = pageEnvelope(rows, page.limit, (row) => presentConversion(row, deps.signer));
  });

  router.post(
    '/v1/jobs/:id/cancel',
    idempotentAction(deps, async (ctx) => {
      const job = await jobOr404(ctx);
      if (isJobFinished(job.status)) {
        throw new ApiError(409, 'job_finished', `the job already ended as ${job.status}`, { job_status: job.status });
      }
      const requested = await cancelJobWorkflow(deps.temporal, job.id);
      if (!requested) {
        // No workflow to record it (never started): none of its files started either, so all end cancelled here.
        const counts = { total: job.total, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: job.total };
        const published = await db
          .transaction()
          .execute((trx) => storeJobEnd(trx, job.id, { status: 'cancelled', counts, failures: [], failuresOmitted: 0 }, deps.delivery.defaultRetrySchedule));
        await dispatchOrDefer(
          deps.deliveries,
          published.flatMap((event) => event.deliveries),
          requestLog(ctx, deps.log),
        );
      }
      ctx.status = 202;
      ctx.body = presentJob((await findJob(db, job.account_id, job.id)) ?? job, deps.signer, deps.config.retention.archives);
    }),
  );

  return router;
}

/**
 * What a job's signed links open, also by API key: the zip of its outputs (`archive_url`,
 * which a webhook receiver can fetch) and its live event stream (`stream_url`, for a
 * browser's EventSource, which cannot send a key).
 */
export function jobLinkRoutes(deps: ApiDependencies): Router {
  const { db } = deps;
  const router = new Router();
  const reader = keyOrLink(db, deps.signer, 'archive', 'job', jobNotFound);
  const streamReader = keyOrLink(db, deps.signer, 'job-events', 'job', jobNotFound);

  router.get('/v1/jobs/:id/events', async (ctx) => {
    const job = await jobForReader(db, await streamReader(ctx));
    await streamEvents(ctx, { accountId: job.account_id, id: job.id, finalTypes: JOB_FINAL_EVENT_TYPES }, streamSettings(deps));
  });

  router.get('/v1/jobs/:id/archive', async (ctx) => {
    const job = await jobForReader(db, await reader(ctx));
    if (!isJobFinished(job.status)) {
      throw new ApiError(409, 'job_not_finished', `the job is ${job.status}; its archive is ready once it ends`, { job_status: job.status });
    }
    if (isArchiveExpired(job, deps.config.retention.archives)) {
      throw new ApiError(
        410,
        'archive_expired',
        `the job ended over ${deps.config.retention.archives} s ago; its archive is past its retention (KILN_RETENTION_ARCHIVES)`,
      );
    }
    const outputs = await jobOutputs(db, job.id);
    const purged = outputs.find((row) => row.output_purged_at);
    if (purged) {
      throw new ApiError(
        410,
        'output_expired',
        `the job's outputs were deleted on ${purged.output_purged_at!.toISOString()}, past their retention (KILN_RETENTION_OUTPUTS)`,
      );
    }
    const names = entryNames(outputs.map((row) => row.output_filename ?? `${row.id}`));
    const entries = outputs.flatMap((row, index) =>
      row.output_key && row.output_bytes !== null ? [{ name: names[index]!, key: row.output_key, bytes: row.output_bytes }] : [],
    );
    const zip = zipOfBlobs(deps.blobs, entries, job.completed_at ?? job.updated_at);
    // An output gone from the store ends the response early; the client sees a cut-off zip, not a wrong one.
    zip.stream.on('error', (error) => requestLog(ctx, deps.log)(`the archive of ${job.id} failed while streaming`, error));
    ctx.type = 'application/zip';
    if (zip.bytes !== undefined) ctx.length = zip.bytes;
    ctx.set('Content-Disposition', contentDisposition(`${job.id}.zip`, 'attachment'));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = zip.stream;
  });
  return router;
}
