import type { Context } from 'koa';
import { z } from 'zod';
import { findJob, findJobById, isJobFinished, jobOutputs, listJobConversions, listJobs } from '../../db/jobs.js';
import type { Kysely } from 'kysely';
import { CONVERSION_STATUSES, JOB_STATUSES, type Database, type Job } from '../../db/schema.js';
import { presentConversion, presentJob } from '../present.js';
import { storeJobEnd } from '../../jobs/events.js';
import { entryNames, isArchiveExpired, zipOfBlobs } from '../../jobs/archive.js';
import { cancelJobRun } from '../../jobs/workflow.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { fieldProblems } from '../../validation.js';
import { checkIncomingFiles } from '../../intake/files.js';
import { acceptJob, JOB_FIELDS, readJobRequest, readNamedSources } from '../../intake/jobs.js';
import { invalid } from '../../intake/options.js';
import { CONVERSION_WEBHOOK_FIELDS } from '../../intake/request-webhook.js';
import { accountOf } from '../auth.js';
import { keyOrLink, type KeyOrLink } from '../link-auth.js';
import { eventStreamContract, streamEvents, streamSettings, subjectStream } from '../event-stream.js';
import { jobBodies, readJsonJob } from '../conversion-request.js';
import * as s from '../contract/schemas.js';
import { binary, createdRangeQuery, idParam, jsonAnswer, operation, pageQuery, linksTo, type Operation } from '../operation.js';
import { JOB_FINAL_EVENT_TYPES } from '../../model/event-catalog.js';
import { contentDisposition } from '../content-disposition.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId, queryChoice, queryCreatedRange } from '../params.js';
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

/** Option values as the option parser reads them (form fields are text). */
function asFields(values: Record<string, string | number | boolean | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])));
}

export function jobOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  const bodies = jobBodies(config);
  const params = idParam('job', 'job');
  const archiveReader = keyOrLink(db, deps.signer, 'archive', 'job', jobNotFound);
  const streamReader = keyOrLink(db, deps.signer, 'job-events', 'job', jobNotFound);
  const jobOr404 = (ctx: Context): Promise<Job> => jobForReader(db, { id: pathId(ctx, 'job', jobNotFound), accountId: accountOf(ctx).id });
  const present = (job: Job) => presentJob(job, deps.signer, config.retentionArchives);

  /** Answers 202 with the accepted job. */
  function answerAccepted(ctx: Context, job: Job): void {
    ctx.status = 202;
    ctx.set('Location', `/v1/jobs/${job.id}`);
    ctx.body = presentJob(job, deps.signer, config.retentionArchives);
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
    const given = readJsonJob(config, body);
    const request = await readJobRequest(deps, accountId, { ...given, files: given.inputs.length });
    const sources = await readNamedSources(deps, accountId, given.inputs);
    answerAccepted(ctx, await acceptJob(deps, requestLog(ctx, deps.log), accountId, request, sources));
  });

  return [
    operation({
      operationId: 'createJob',
      method: 'post',
      path: '/v1/jobs',
      summary: 'Start a job: many files converted with shared options, one workflow watching them',
      description:
        'Multipart with each image as a `file` field (in order) and the shared options as fields; or JSON whose `inputs` name earlier conversions (their originals) or URLs. `inputs[i].options` are over the shared options for the i-th file.',
      tag: 'Jobs',
      auth: 'api_key',
      rateLimit: 'work',
      createsWork: true,
      idempotent: true,
      body: { required: true, content: { 'multipart/form-data': bodies.multipart, 'application/json': bodies.json } },
      answers: {
        202: jsonAnswer('Accepted: the job and its files are queued', s.Job, {
          headers: { Location: 'The job' },
          links: linksTo(['getJob', 'listJobConversions', 'streamJobEvents', 'cancelJob', 'downloadJobArchive'], 'job'),
        }),
      },
      problems: {
        400: [
          'invalid_options',
          'file_required',
          'empty_file',
          'unexpected_file',
          'too_many_files',
          'invalid_multipart',
          'upload_aborted',
          'invalid_url',
          'invalid_metadata',
          'invalid_tag',
          'unknown_event_type',
        ],
        413: ['file_too_large', 'upload_too_large'],
        415: ['unsupported_input'],
        422: ['blocked_address', 'source_not_found'],
        503: ['storage_unavailable'],
        507: ['insufficient_storage'],
      },
      handler: (ctx) => {
        if (ctx.is('multipart/form-data')) return createFromUpload(ctx);
        if (ctx.is('application/json')) return createFromInputs(ctx);
        throw new ApiError(
          415,
          'unsupported_media_type',
          'send the images as multipart/form-data "file" fields, or a JSON body whose inputs name earlier uploads or URLs',
        );
      },
    }),
    operation({
      operationId: 'listJobs',
      method: 'get',
      path: '/v1/jobs',
      summary: 'List jobs, newest first',
      tag: 'Jobs',
      auth: 'api_key',
      query: z.object({ ...pageQuery, status: z.enum(JOB_STATUSES).optional(), ...createdRangeQuery }),
      answers: { 200: jsonAnswer('A page of jobs', s.page(s.Job, 'JobPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const status = queryChoice(ctx.query, 'status', JOB_STATUSES);
        const rows = await listJobs(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 }, { status, ...queryCreatedRange(ctx.query) });
        ctx.body = pageEnvelope(rows, page.limit, present);
      },
    }),
    operation({
      operationId: 'getJob',
      method: 'get',
      path: '/v1/jobs/{id}',
      summary: 'One job: its status, counts per file status and progress',
      tag: 'Jobs',
      auth: 'api_key',
      params,
      answers: { 200: jsonAnswer('The job', s.Job) },
      problems: { 404: ['job_not_found'] },
      handler: async (ctx) => {
        ctx.body = present(await jobOr404(ctx));
      },
    }),
    operation({
      operationId: 'listJobConversions',
      method: 'get',
      path: '/v1/jobs/{id}/conversions',
      summary: "A job's files, in the job's order, each a conversion",
      tag: 'Jobs',
      auth: 'api_key',
      params,
      query: z.object({ ...pageQuery, status: z.enum(CONVERSION_STATUSES).optional() }),
      answers: { 200: jsonAnswer('A page of conversions', s.page(s.Conversion, 'ConversionPage')) },
      problems: { 400: ['invalid_parameter'], 404: ['job_not_found'] },
      handler: async (ctx) => {
        const job = await jobOr404(ctx);
        const page = readPage(ctx.query);
        const status = queryChoice(ctx.query, 'status', CONVERSION_STATUSES);
        const rows = await listJobConversions(db, job.id, { ...page, limit: page.limit + 1, status });
        ctx.body = pageEnvelope(rows, page.limit, (row) => presentConversion(row, deps.signer));
      },
    }),
    operation({
      operationId: 'cancelJob',
      method: 'post',
      path: '/v1/jobs/{id}/cancel',
      summary: 'Cancel a job: files not started never start, those under way are cancelled, finished ones stay',
      tag: 'Jobs',
      auth: 'api_key',
      idempotent: true,
      params,
      answers: { 202: jsonAnswer('Cancelling', s.Job) },
      problems: { 404: ['job_not_found'], 409: ['job_finished'], 503: ['temporal_unavailable'] },
      handler: idempotentAction(deps, async (ctx) => {
        const job = await jobOr404(ctx);
        const finished = (status: string): ApiError => new ApiError(409, 'job_finished', `the job already ended as ${status}`, { job_status: status });
        if (isJobFinished(job.status)) throw finished(job.status);
        // The run answers: it accepts the cancel only while it has not decided how it ends. One that does
        // not answer in time (no worker takes it) has the cancellation request, which it takes up first.
        const answer = await cancelJobRun(deps.temporal, job.id);
        if (answer.kind === 'ended') throw finished((await findJob(db, job.account_id, job.id))?.status ?? job.status);
        if (answer.kind === 'no-run') {
          // No workflow to record it (never started): none of its files started either, so all end cancelled here.
          const counts = { total: job.total, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: job.total };
          const published = await db
            .transaction()
            .execute((trx) => storeJobEnd(trx, job.id, { status: 'cancelled', counts, failures: [], failuresOmitted: 0 }, deps.delivery.defaultRetrySchedule));
          await dispatchOrDefer(deps.deliveries, published, requestLog(ctx, deps.log));
        }
        const now = (await findJob(db, job.account_id, job.id)) ?? job;
        // A run that closed since the first look (no run to ask): it ended as it says.
        if (answer.kind === 'no-run' && now.status !== 'cancelled') throw finished(now.status);
        ctx.status = 202;
        ctx.body = present(now);
      }),
    }),
    operation({
      operationId: 'streamJobEvents',
      method: 'get',
      path: '/v1/jobs/{id}/events',
      ...eventStreamContract('job', 'job_not_found'),
      params,
      handler: async (ctx) => {
        const job = await jobForReader(db, await streamReader(ctx));
        await streamEvents(ctx, subjectStream(deps.db, { accountId: job.account_id, id: job.id, finalTypes: JOB_FINAL_EVENT_TYPES }), streamSettings(deps));
      },
    }),
    operation({
      operationId: 'downloadJobArchive',
      method: 'get',
      path: '/v1/jobs/{id}/archive',
      summary: "A zip of an ended job's succeeded outputs, streamed (by API key, or by its signed archive_url)",
      tag: 'Jobs',
      auth: 'api_key_or_link',
      params,
      query: z.object({
        expires: z.string().regex(/^\d+$/).optional().describe("From the job's archive_url: with signature, it replaces the API key"),
        signature: z.string().optional().describe("From the job's archive_url"),
      }),
      answers: {
        200: {
          description: "One entry per succeeded file, in the job's order, named after its output (made safe and unique); stored, not recompressed",
          content: { 'application/zip': binary('The zip', 'application/zip') },
          headers: { 'Content-Disposition': 'attachment; filename="<job id>.zip"', 'X-Content-Type-Options': 'nosniff' },
        },
      },
      problems: {
        400: ['invalid_parameter'],
        403: ['invalid_signature'],
        404: ['job_not_found'],
        409: ['job_not_finished'],
        410: ['link_expired', 'output_expired', 'archive_expired'],
      },
      handler: async (ctx) => archive(deps, ctx, await jobForReader(db, await archiveReader(ctx))),
    }),
  ];
}

/** Streams the zip of an ended job's outputs. */
async function archive(deps: ApiDependencies, ctx: Context, job: Job): Promise<void> {
  if (!isJobFinished(job.status)) {
    throw new ApiError(409, 'job_not_finished', `the job is ${job.status}; its archive is ready once it ends`, { job_status: job.status });
  }
  if (isArchiveExpired(job, deps.config.retentionArchives)) {
    throw new ApiError(
      410,
      'archive_expired',
      `the job ended over ${deps.config.retentionArchives} s ago; its archive is past its retention (KILN_RETENTION_ARCHIVES)`,
    );
  }
  const outputs = await jobOutputs(deps.db, job.id);
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
}
