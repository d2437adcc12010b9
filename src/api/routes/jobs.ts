import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { OPTION_NAMES, PRESET_FIELD } from '../../convert/options.js';
import { findJob, findJobById, isJobFinished, jobOutputs, listJobConversions, listJobs } from '../../db/jobs.js';
import type { Kysely } from 'kysely';
import { CONVERSION_STATUSES, JOB_STATUSES, type Database, type Job } from '../../db/schema.js';
import { presentConversion, presentJob } from '../present.js';
import { storeJobEnd } from '../../jobs/events.js';
import { entryNames, isArchiveExpired, zipOfBlobs } from '../../jobs/archive.js';
import { cancelJobWorkflow } from '../../jobs/workflow.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { fieldProblems } from '../../validation.js';
import { checkIncomingFiles } from '../../intake/files.js';
import { acceptJob, JOB_FIELDS, readJobRequest, readNamedSources } from '../../intake/jobs.js';
import { invalid } from '../../intake/options.js';
import { CONVERSION_WEBHOOK_FIELDS } from '../../intake/request-webhook.js';
import { accountOf } from '../auth.js';
import { keyOrLink, type KeyOrLink } from '../link-auth.js';
import { streamEvents, streamSettings } from '../event-stream.js';
import { JOB_FINAL_EVENT_TYPES } from '../../model/event-catalog.js';
import { contentDisposition } from '../content-disposition.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId, queryChoice } from '../params.js';
import { ApiError } from '../../problem.js';
import { requestLog } from '../request-log.js';
import { receiveUpload } from '../upload.js';
import { hasIdempotencyKey, idempotent, idempotentAction, idempotentJson, requestFingerprint } from '../idempotency.js';

const jobNotFound = (id: string): ApiError => new ApiError(404, 'job_not_found', `no job ${id}`);

/** The job a key's account owns, or the one a signed link names. */
async function jobForReader(db: Kysely<Database>, reader: KeyOrLink): Promise<Job> {
  const job = reader.accountId ? await findJob(db, reader.accountId, reader.id) : await findJobById(db, reader.id);
  if (!job) throw jobNotFound(reader.id);
  return job;
}

/** An option's value as JSON may give it: numbers for the numeric options, booleans for the flags. */
const optionValue = z.union([z.string(), z.number(), z.boolean()]);
const optionOverrides = z.record(z.string(), optionValue).describe("Options for this file alone, over the job's shared ones");

/** One entry of `inputs` in a multipart job: the file at the same position. */
const uploadedInput = z.object({ options: optionOverrides.optional() }).strict();

/** A multipart job's `inputs` field: a JSON array, one entry per file in order. */
function parseUploadedInputs(raw: string | undefined): Array<z.infer<typeof uploadedInput>> {
  if (raw === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw invalid('invalid_options', [{ field: 'inputs', message: 'inputs must be a JSON array, one object per file' }]);
  }
  const parsed = z.array(uploadedInput).safeParse(json);
  if (!parsed.success) {
    throw invalid(
      'invalid_options',
      fieldProblems(parsed.error, 'key').map((p) => ({ ...p, field: `inputs${p.field ? `.${p.field}` : ''}` })),
    );
  }
  return parsed.data;
}

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

/** Option values as the option parser reads them (form fields are text). */
function asFields(values: Record<string, string | number | boolean | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])));
}

export function jobRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

  /** Answers 202 with the accepted job. */
  function answerAccepted(ctx: Context, job: Job): void {
    ctx.status = 202;
    ctx.set('Location', `/v1/jobs/${job.id}`);
    ctx.body = presentJob(job, deps.signer, config.retention.archives);
  }

  /** Several files in one multipart body (each a `file` field), options and webhook fields shared. */
  async function createFromUpload(ctx: Context): Promise<void> {
    const accountId = accountOf(ctx).id;
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
      return { shared, inputs: parseUploadedInputs(fields.inputs), fields };
    });
    let accepted = false;
    try {
      const { files } = upload;
      checkIncomingFiles(files, 'send the images as multipart fields named "file", one per image');
      const { shared, inputs, fields } = upload.fields;
      if (inputs.length > files.length) {
        throw invalid('invalid_options', [{ field: 'inputs', message: `inputs has ${inputs.length} entries for ${files.length} files` }]);
      }
      const request = await readJobRequest(deps, accountId, {
        shared,
        overrides: inputs.map((input) => input.options && asFields(input.options)),
        files: files.length,
        concurrency: fields.concurrency,
        webhook: fields,
      });
      const sameUpload = requestFingerprint(
        JSON.stringify(Object.entries(upload.rawFields).sort()),
        ...files.flatMap((file) => [file.sha256 ?? '', file.filename, file.contentType ?? '']),
      );
      await idempotent(ctx, deps, sameUpload, async () => {
        const sources = files.map((file) => ({ kind: 'upload' as const, file }));
        const job = await acceptJob(deps, requestLog(ctx, deps.log), accountId, request, sources);
        accepted = true;
        answerAccepted(ctx, job);
      });
    } finally {
      if (!accepted) await upload.discard();
    }
  }

  /** A JSON body whose `inputs` name files Kiln already has, or URLs. */
  const createFromInputs = idempotentJson(deps, async (ctx, body) => {
    const accountId = accountOf(ctx).id;
    const parsed = jobBody.safeParse(body);
    if (!parsed.success) throw invalid('invalid_body', fieldProblems(parsed.error, 'field'));
    const given = parsed.data;
    const request = await readJobRequest(deps, accountId, {
      shared: asFields(
        Object.fromEntries(
          [...OPTION_NAMES, PRESET_FIELD].map((name) => [name, (given as Record<string, unknown>)[name] as string | number | boolean | undefined]),
        ),
      ),
      overrides: given.inputs.map((input) => input.options && asFields(input.options)),
      files: given.inputs.length,
      concurrency: given.concurrency,
      webhook: asFields({
        webhook_url: given.webhook_url,
        tag: given.tag,
        webhook_metadata: given.webhook_metadata === undefined ? undefined : JSON.stringify(given.webhook_metadata),
      }),
      webhookEvents: given.webhook_events,
    });
    const sources = await readNamedSources(deps, accountId, given.inputs);
    answerAccepted(ctx, await acceptJob(deps, requestLog(ctx, deps.log), accountId, request, sources));
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
