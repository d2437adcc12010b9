import { z } from 'zod';
import type { Context } from 'koa';
import { CONTENT_TYPES, OUTPUT_FORMATS, type OutputFormat } from '../../model/formats.js';
import { findConversion, findConversionById, isFinished, listConversions, markCancelled } from '../../db/conversions.js';
import { CONVERSION_STATUSES, type Conversion } from '../../db/schema.js';
import { presentConversion } from '../present.js';
import { storeConversionEvent } from '../../conversions/events.js';
import { readJsonBody } from '../json-body.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { cancelConversionRun } from '../../conversions/workflow.js';
import { acceptSource, acceptUpload, readConversionRequest, SOURCE_FIELD, type ConversionRequest } from '../../intake/conversions.js';
import { checkIncomingFiles } from '../../intake/files.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { keyOrLink } from '../link-auth.js';
import { eventStreamContract, streamEvents, streamSettings, subjectStream } from '../event-stream.js';
import { conversionBodies, jsonConversionFields } from '../conversion-request.js';
import * as s from '../contract/schemas.js';
import { binary, createdRangeQuery, idParam, jsonAnswer, operation, pageQuery, linksTo, type Operation } from '../operation.js';
import { CONVERSION_FINAL_EVENT_TYPES, type EventType } from '../../model/event-catalog.js';
import type { StoredEventNotice } from '../../events/event-bell.js';
import { requestLog } from '../request-log.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';
import { receiveUpload } from '../upload.js';
import { contentDisposition } from '../content-disposition.js';
import { pathId, queryChoice, queryCreatedRange, queryMatching, queryWhole } from '../params.js';
import { TAG_PATTERN } from '../../intake/request-webhook.js';
import { holdUntil, MAX_WAIT_SECONDS, preferHeader, preferredWait } from '../wait.js';
import { hasIdempotencyKey, idempotent, idempotentAction, requestFingerprint } from '../idempotency.js';

const conversionNotFound = (id: string): ApiError => new ApiError(404, 'conversion_not_found', `no conversion ${id}`);

export function conversionOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  const bodies = conversionBodies(config);
  const params = idParam('cnv', 'conversion');
  const streamReader = keyOrLink(db, deps.signer, 'conversion-events', 'cnv', conversionNotFound);

  /** Answers 202 with the accepted conversion. */
  function answerAccepted(ctx: Context, row: Conversion): void {
    ctx.status = 202;
    ctx.set('Location', `/v1/conversions/${row.id}`);
    ctx.body = presentConversion(row, deps.signer);
  }

  /** A conversion whose original its workflow fetches: nothing to store now but the row. */
  function fromSource(ctx: Context, request: ConversionRequest & { sourceUrl: string }, raw: Readonly<Record<string, string>>): Promise<void> {
    return idempotent(ctx, deps, requestFingerprint(JSON.stringify(Object.entries(raw).sort())), async () =>
      answerAccepted(ctx, await acceptSource(deps, requestLog(ctx, deps.log), accountOf(ctx).id, request, raw.filename)),
    );
  }

  async function create(ctx: Context): Promise<void> {
    const accountId = accountOf(ctx).id;
    // A JSON body names a source_url (there is no file to send with it).
    if (ctx.is('application/json')) {
      const fields = jsonConversionFields(config, await readJsonBody(ctx));
      // `filename` names the original fetched, as the raw style's query parameter names an upload.
      const { filename: _filename, ...rest } = fields;
      const request = await readConversionRequest(deps, accountId, rest);
      if (request.sourceUrl === undefined)
        throw new ApiError(400, 'file_required', 'a JSON body names its image by source_url; send a file as multipart or as the raw body');
      return fromSource(ctx, { ...request, sourceUrl: request.sourceUrl }, fields);
    }
    // The file's hash only matters to a request that can be replayed.
    const spool = { dir: deps.spoolDir, maxBytes: config.maxUploadBytes, hashed: hasIdempotencyKey(ctx) };
    const upload = await receiveUpload(ctx, spool, (fields) => readConversionRequest(deps, accountId, fields));
    let accepted = false;
    try {
      const { file, fields: request } = upload;
      if (request.sourceUrl !== undefined) {
        if (file && file.bytes > 0) throw new ApiError(400, 'invalid_options', 'send a file or a source_url, not both', { field: SOURCE_FIELD });
        return await fromSource(ctx, { ...request, sourceUrl: request.sourceUrl }, upload.rawFields);
      }
      checkIncomingFiles(file ? [file] : [], 'send the image as the multipart field "file", or as the raw request body, or name it by source_url');
      const sameUpload = requestFingerprint(
        JSON.stringify(Object.entries(upload.rawFields).sort()),
        file!.sha256 ?? '',
        file!.filename,
        file!.contentType ?? '',
      );
      await idempotent(ctx, deps, sameUpload, async () => {
        const row = await acceptUpload(deps, requestLog(ctx, deps.log), accountId, request, file!);
        accepted = true;
        answerAccepted(ctx, row);
      });
    } finally {
      if (!accepted) await upload.discard();
    }
  }

  /** `Prefer: wait=N`: holds a 202 until the conversion ends (then 200 with it as it ended) or N seconds pass. */
  async function createAndWait(ctx: Context): Promise<void> {
    await create(ctx);
    const seconds = preferredWait(ctx);
    const id = /^\/v1\/conversions\/(cnv_[0-9a-z]{23})$/.exec(ctx.response.get('Location'))?.[1];
    if (seconds === undefined || ctx.status !== 202 || !id) return;
    const row = (await heldUntilEnded(ctx, accountOf(ctx).id, id, seconds))!;
    ctx.set('Preference-Applied', `wait=${seconds}`);
    if (!isFinished(row.status)) return;
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = presentConversion(row, deps.signer);
  }

  /**
   * Holds the request until the conversion ends or `seconds` pass, woken by its own final
   * event (not by its other events, nor other conversions'); answers the row as it then stands.
   */
  async function heldUntilEnded(ctx: Context, accountId: string, id: string, seconds: number): Promise<Conversion | undefined> {
    const itsEnd = (event: StoredEventNotice): boolean => event.subjectId === id && CONVERSION_FINAL_EVENT_TYPES.has(event.type as EventType);
    return holdUntil(
      ctx,
      seconds,
      () => findConversion(db, accountId, id),
      (row) => row === undefined || isFinished(row.status),
      (withinMs) => deps.bell.next(accountId, withinMs, itsEnd),
    );
  }

  async function conversionOr404(ctx: Context): Promise<Conversion> {
    const id = pathId(ctx, 'cnv', conversionNotFound);
    const row = await findConversion(db, accountOf(ctx).id, id);
    if (!row) throw conversionNotFound(id);
    return row;
  }

  return [
    operation({
      operationId: 'createConversion',
      method: 'post',
      path: '/v1/conversions',
      summary: 'Upload an image (or name its URL) and start its conversion',
      description:
        'Three ways to send it: multipart with the image as `file` and the options as fields; the raw image as the body with the options as query parameters (`filename` names it); or a JSON body naming `source_url` with the options as JSON values. With `source_url` instead of a file, the workflow fetches the original.',
      tag: 'Conversions',
      auth: 'api_key',
      rateLimit: 'work',
      createsWork: true,
      idempotent: true,
      query: bodies.query,
      body: {
        required: true,
        content: { 'multipart/form-data': bodies.multipart, 'application/octet-stream': bodies.raw, 'application/json': bodies.json },
      },
      headers: [preferHeader],
      answers: {
        200: jsonAnswer('With `Prefer: wait=N`: the conversion ended within N seconds; this is how it ended', s.Conversion, {
          headers: { Location: 'The conversion', 'Preference-Applied': '`wait=N`, the wait honoured' },
        }),
        202: jsonAnswer('Accepted: the conversion is queued (with `Prefer: wait=N`, still under way after N seconds)', s.Conversion, {
          headers: { Location: 'The conversion', 'Preference-Applied': 'With `Prefer: wait=N`: `wait=N`, the wait honoured' },
          links: linksTo(['getConversion', 'streamConversionEvents', 'cancelConversion'], 'conversion'),
        }),
      },
      problems: {
        400: [
          'invalid_options',
          'file_required',
          'empty_file',
          'unexpected_file',
          'invalid_multipart',
          'upload_aborted',
          'invalid_url',
          'invalid_metadata',
          'invalid_tag',
          'unknown_event_type',
        ],
        413: ['file_too_large'],
        415: ['unsupported_input'],
        422: ['blocked_address'],
        503: ['storage_unavailable'],
        507: ['insufficient_storage'],
      },
      handler: createAndWait,
    }),
    operation({
      operationId: 'listConversions',
      method: 'get',
      path: '/v1/conversions',
      summary: 'List conversions, newest first',
      tag: 'Conversions',
      auth: 'api_key',
      query: z.object({
        ...pageQuery,
        status: z.enum(CONVERSION_STATUSES).optional(),
        output_format: z.enum(OUTPUT_FORMATS).optional().describe('Only those converted (or to be converted) to this format'),
        tag: z.string().regex(TAG_PATTERN).optional().describe('Only those with this tag'),
        ...createdRangeQuery,
      }),
      answers: { 200: jsonAnswer('A page of conversions', s.page(s.Conversion, 'ConversionPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listConversions(
          db,
          accountOf(ctx).id,
          { ...page, limit: page.limit + 1 },
          {
            status: queryChoice(ctx.query, 'status', CONVERSION_STATUSES),
            outputFormat: queryChoice(ctx.query, 'output_format', OUTPUT_FORMATS),
            tag: queryMatching(ctx.query, 'tag', TAG_PATTERN, '1–64 letters, digits, or . _ : -'),
            ...queryCreatedRange(ctx.query),
          },
        );
        ctx.body = pageEnvelope(rows, page.limit, (row) => presentConversion(row, deps.signer));
      },
    }),
    operation({
      operationId: 'getConversion',
      method: 'get',
      path: '/v1/conversions/{id}',
      summary: 'One conversion',
      tag: 'Conversions',
      auth: 'api_key',
      params,
      query: z.object({
        wait: z
          .number()
          .int()
          .min(0)
          .max(MAX_WAIT_SECONDS)
          .optional()
          .describe(
            `Hold the answer until the conversion ends or this many seconds pass (at most ${MAX_WAIT_SECONDS}); it answers the conversion as it then stands`,
          ),
      }),
      answers: { 200: jsonAnswer('The conversion', s.Conversion) },
      problems: { 400: ['invalid_parameter'], 404: ['conversion_not_found'] },
      handler: async (ctx) => {
        const row = await conversionOr404(ctx);
        const seconds = queryWhole(ctx.query, 'wait', 0, MAX_WAIT_SECONDS);
        const held = seconds && !isFinished(row.status) ? ((await heldUntilEnded(ctx, row.account_id, row.id, seconds)) ?? row) : row;
        ctx.body = presentConversion(held, deps.signer);
      },
    }),
    operation({
      operationId: 'cancelConversion',
      method: 'post',
      path: '/v1/conversions/{id}/cancel',
      summary: 'Cancel a conversion: 202 means it ends cancelled (its work stops, no output is kept); 409 that it ended first',
      tag: 'Conversions',
      auth: 'api_key',
      idempotent: true,
      params,
      answers: { 202: jsonAnswer('Cancelling', s.Conversion) },
      problems: { 404: ['conversion_not_found'], 409: ['conversion_finished'], 503: ['temporal_unavailable'] },
      handler: idempotentAction(deps, async (ctx) => {
        const accountId = accountOf(ctx).id;
        const row = await conversionOr404(ctx);
        const finished = (status: string): ApiError =>
          new ApiError(409, 'conversion_finished', `the conversion already ended as ${status}`, { conversion_status: status });
        if (isFinished(row.status)) throw finished(row.status);
        // The run answers: it claims the cancellation against its own success record, one of them wins.
        const answer = await cancelConversionRun(deps.temporal, row.id);
        if (answer.kind === 'no-run' || answer.kind === 'unanswered') {
          // No run to ask (never started, or closed since), or none answering (no worker takes it): the same
          // claim on the row the run would make, made here, with its event; the run finds it when it goes on.
          const claimed = await markCancelled(db, row.id);
          if (!claimed || claimed.row.status !== 'cancelled') throw finished(claimed?.row.status ?? row.status);
          const event = await storeConversionEvent(db, claimed.row, 'conversion.cancelled', deps.delivery.defaultRetrySchedule);
          await dispatchOrDefer(deps.deliveries, [event], requestLog(ctx, deps.log));
        }
        const now = (await findConversion(db, accountId, row.id)) ?? row;
        if (answer.kind === 'ended') throw finished(answer.as ?? now.status);
        ctx.status = 202;
        ctx.body = presentConversion(now, deps.signer);
      }),
    }),
    operation({
      operationId: 'streamConversionEvents',
      method: 'get',
      path: '/v1/conversions/{id}/events',
      ...eventStreamContract('conversion', 'conversion_not_found'),
      params,
      handler: async (ctx) => {
        const { id, accountId } = await streamReader(ctx);
        const row = accountId ? await findConversion(db, accountId, id) : await findConversionById(db, id);
        if (!row) throw conversionNotFound(id);
        await streamEvents(ctx, subjectStream(db, { accountId: row.account_id, id: row.id, finalTypes: CONVERSION_FINAL_EVENT_TYPES }), streamSettings(deps));
      },
    }),
    operation({
      operationId: 'downloadOutput',
      method: 'get',
      path: '/v1/downloads/{id}',
      summary: 'Download an output by its signed link (download_url): the link is the credential',
      tag: 'Conversions',
      auth: 'link',
      params,
      query: z.object({
        expires: z.string().regex(/^\d+$/).describe('From download_url'),
        signature: z.string().describe('From download_url'),
        output: z.number().int().min(0).max(999).optional().describe('Which output of a conversion with several (from its own link; default 0)'),
      }),
      answers: {
        200: {
          description: 'The output image, of the type its format has',
          content: Object.fromEntries(Object.values(CONTENT_TYPES).map((type) => [type, binary('The output', type)])),
          headers: { 'Content-Disposition': 'inline, with the output’s name', 'X-Content-Type-Options': 'nosniff' },
        },
      },
      problems: { 403: ['invalid_signature'], 404: ['output_not_found'], 410: ['link_expired', 'output_expired'] },
      handler: (ctx) => download(deps, ctx),
    }),
  ];
}

/** Serves an output by its signed link: no API key, the URL's signature is the credential. */
async function download(deps: ApiDependencies, ctx: Context): Promise<void> {
  const invalid = (): ApiError => new ApiError(403, 'invalid_signature', 'the download link is not valid');
  const id = pathId(ctx, 'cnv', invalid);
  const expires = typeof ctx.query.expires === 'string' ? ctx.query.expires : undefined;
  const signature = typeof ctx.query.signature === 'string' ? ctx.query.signature : undefined;
  // Which output of a conversion with several; the first when absent.
  const outputParam = typeof ctx.query.output === 'string' ? ctx.query.output : '0';
  if (!/^\d{1,3}$/.test(outputParam)) throw invalid();
  const index = Number(outputParam);
  const verdict = deps.signer.verify(id, expires, signature, new Date(), index);
  if (verdict === 'invalid') throw invalid();
  if (verdict === 'expired') {
    throw new ApiError(410, 'link_expired', 'the download link has expired; fetch the conversion again for a fresh one');
  }
  const row = await findConversionById(deps.db, id);
  if (!row || row.status !== 'succeeded' || !row.output_key) throw new ApiError(404, 'output_not_found', 'no output for this link');
  if (row.output_purged_at) {
    throw new ApiError(410, 'output_expired', `the output was deleted on ${row.output_purged_at.toISOString()}, past its retention (KILN_RETENTION_OUTPUTS)`);
  }
  const output = index === 0 ? { key: row.output_key, format: row.output_format, filename: row.output_filename } : row.outputs?.[index];
  if (!output) throw new ApiError(404, 'output_not_found', 'no output for this link');
  const size = await deps.blobs.size(output.key);
  if (size === undefined) throw new ApiError(404, 'output_not_found', 'the output file is gone');
  ctx.type = CONTENT_TYPES[output.format as OutputFormat];
  ctx.length = size;
  ctx.set('Content-Disposition', contentDisposition(output.filename ?? 'output'));
  ctx.set('Cache-Control', 'private, max-age=300');
  ctx.body = deps.blobs.openReadStream(output.key);
}
