import Router from '@koa/router';
import type { Context } from 'koa';
import { CONTENT_TYPES, type OutputFormat } from '../../model/formats.js';
import { findConversion, findConversionById, isFinished, listConversions, markCancelled } from '../../db/conversions.js';
import { CONVERSION_STATUSES, type Conversion } from '../../db/schema.js';
import { presentConversion } from '../present.js';
import { storeConversionEvent } from '../../conversions/events.js';
import { readJsonBody } from '../json-body.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { cancelConversionWorkflow } from '../../conversions/workflow.js';
import { acceptSource, acceptUpload, readConversionRequest, SOURCE_FIELD, type ConversionRequest } from '../../intake/conversions.js';
import { checkIncomingFiles } from '../../intake/files.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { keyOrLink } from '../link-auth.js';
import { streamEvents, streamSettings } from '../event-stream.js';
import { CONVERSION_FINAL_EVENT_TYPES } from '../../model/event-catalog.js';
import { requestLog } from '../request-log.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';
import { receiveUpload } from '../upload.js';
import { contentDisposition } from '../content-disposition.js';
import { pathId, queryChoice } from '../params.js';
import { hasIdempotencyKey, idempotent, idempotentAction, requestFingerprint } from '../idempotency.js';

const conversionNotFound = (id: string): ApiError => new ApiError(404, 'conversion_not_found', `no conversion ${id}`);

/** A JSON body's fields as forms send them: text (objects and arrays as JSON, arrays of event types comma-separated). */
function jsonFields(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'invalid_body', 'the body must be a JSON object');
  return Object.fromEntries(
    Object.entries(body).map(([name, value]) => [
      name,
      typeof value === 'string'
        ? value
        : name === 'webhook_events' && Array.isArray(value)
          ? value.join(',')
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value),
    ]),
  );
}

export function conversionRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

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

  router.post('/v1/conversions', async (ctx) => {
    const accountId = accountOf(ctx).id;
    // A JSON body names a source_url (there is no file to send with it).
    if (ctx.is('application/json')) {
      const fields = jsonFields(await readJsonBody(ctx));
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
  });

  router.get('/v1/conversions', async (ctx) => {
    const page = readPage(ctx.query);
    const status = queryChoice(ctx.query, 'status', CONVERSION_STATUSES);
    const rows = await listConversions(db, accountOf(ctx).id, { ...page, limit: page.limit + 1, status });
    ctx.body = pageEnvelope(rows, page.limit, (row) => presentConversion(row, deps.signer));
  });

  async function conversionOr404(ctx: Context): Promise<Conversion> {
    const id = pathId(ctx, 'cnv', conversionNotFound);
    const row = await findConversion(db, accountOf(ctx).id, id);
    if (!row) throw conversionNotFound(id);
    return row;
  }

  router.get('/v1/conversions/:id', async (ctx) => {
    ctx.body = presentConversion(await conversionOr404(ctx), deps.signer);
  });

  router.post(
    '/v1/conversions/:id/cancel',
    idempotentAction(deps, async (ctx) => {
      const accountId = accountOf(ctx).id;
      const row = await conversionOr404(ctx);
      if (isFinished(row.status)) {
        throw new ApiError(409, 'conversion_finished', `the conversion already ended as ${row.status}`, { conversion_status: row.status });
      }
      const requested = await cancelConversionWorkflow(deps.temporal, row.id);
      if (!requested) {
        // No workflow to record it (never started): the API records it, event included, as the workflow would.
        const finished = await markCancelled(db, row.id);
        if (finished?.row.status === 'cancelled') {
          const event = await storeConversionEvent(db, finished.row, 'conversion.cancelled', deps.delivery.defaultRetrySchedule);
          await dispatchOrDefer(deps.deliveries, event.deliveries, requestLog(ctx, deps.log));
        }
      }
      ctx.status = 202;
      ctx.body = presentConversion((await findConversion(db, accountId, row.id)) ?? row, deps.signer);
    }),
  );

  return router;
}

/** Signed downloads: no API key, the URL's signature is the credential. */
export function downloadRoutes(deps: ApiDependencies): Router {
  const router = new Router();
  router.get('/v1/downloads/:id', async (ctx) => {
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
  });
  return router;
}

/** A conversion's live event stream, by API key or by its signed `stream_url` (for a browser's EventSource). */
export function conversionStreamRoutes(deps: ApiDependencies): Router {
  const router = new Router();
  const reader = keyOrLink(deps.db, deps.signer, 'conversion-events', 'cnv', conversionNotFound);
  router.get('/v1/conversions/:id/events', async (ctx) => {
    const { id, accountId } = await reader(ctx);
    const row = accountId ? await findConversion(deps.db, accountId, id) : await findConversionById(deps.db, id);
    if (!row) throw conversionNotFound(id);
    await streamEvents(ctx, { accountId: row.account_id, id: row.id, finalTypes: CONVERSION_FINAL_EVENT_TYPES }, streamSettings(deps));
  });
  return router;
}
