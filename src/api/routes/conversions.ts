import Router from '@koa/router';
import type { Context } from 'koa';
import { parseConversionOptions, PRESET_FIELD, withPreset } from '../../convert/options.js';
import { presetsNamed } from '../../db/presets.js';
import { findAsset } from '../../db/assets.js';
import { CONTENT_TYPES, type OutputFormat } from '../../model/formats.js';
import { findConversion, findConversionById, insertQueuedConversion, isFinished, listConversions, markCancelled } from '../../db/conversions.js';
import { CONVERSION_STATUSES, type Conversion } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { presentConversion } from '../present.js';
import { storeConversionEvent } from '../../conversions/events.js';
import type { PublishedEvent } from '../../events/publish.js';
import { checkedSourceUrl, safeSourceName, sourceFilename } from '../source-fields.js';
import { readJsonBody } from '../json-body.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { CONVERSION_WEBHOOK_FIELDS, parseConversionWebhookFields } from '../webhook-fields.js';
import { conversionRunSettings, inputKeyFor, cancelConversionWorkflow, startConversionWorkflow } from '../../conversions/workflow.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { deleteBlobsIfStoreFails } from '../orphan-blobs.js';
import { keyOrLink } from '../link-auth.js';
import { streamEvents, streamSettings } from '../event-stream.js';
import { CONVERSION_FINAL_EVENT_TYPES } from '../../model/event-catalog.js';
import { requestLog } from '../request-log.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../problem.js';
import { receiveUpload, refuseNonImages } from '../upload.js';
import { contentDisposition } from '../content-disposition.js';
import { pathId, queryChoice } from '../params.js';
import { hasIdempotencyKey, idempotent, idempotentAction, requestFingerprint } from '../idempotency.js';

const conversionNotFound = (id: string): ApiError => new ApiError(404, 'conversion_not_found', `no conversion ${id}`);

/** The field naming a URL to fetch the original from, instead of a file. */
const SOURCE_FIELD = 'source_url';

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

  /** A conversion's fields (form fields, query parameters, or a JSON body's, as text): options under any preset, webhook fields, source_url. */
  async function parseFields(accountId: string, fields: Record<string, string>) {
    const { [SOURCE_FIELD]: sourceUrl, ...rest } = fields;
    const optionFields = Object.fromEntries(Object.entries(rest).filter(([name]) => !(CONVERSION_WEBHOOK_FIELDS as readonly string[]).includes(name)));
    const named = optionFields[PRESET_FIELD];
    const resolved = withPreset(optionFields, await presetsNamed(db, accountId, named === undefined ? [] : [named]));
    const parsed = resolved.ok ? parseConversionOptions(resolved.fields, config) : resolved;
    if (!parsed.ok) {
      throw new ApiError(400, 'invalid_options', parsed.problems.map((p) => p.message).join('; '), { errors: parsed.problems });
    }
    // A watermark names an asset of this account; it must be there now (a deletion later fails the conversion).
    for (const id of new Set((parsed.options.outputs ?? [parsed.options]).flatMap((output) => (output.watermark ? [output.watermark] : [])))) {
      if (!(await findAsset(db, accountId, id))) {
        throw new ApiError(400, 'invalid_options', `watermark: no asset ${id}; upload one with POST /v1/assets`, {
          errors: [{ field: 'watermark', message: `no asset ${id}` }],
        });
      }
    }
    return {
      options: parsed.options,
      webhook: parseConversionWebhookFields(rest, deps.guard),
      sourceUrl: sourceUrl === undefined ? undefined : checkedSourceUrl(sourceUrl, deps.guard, SOURCE_FIELD),
    };
  }

  type Parsed = Awaited<ReturnType<typeof parseFields>>;

  /** Stores the row (and its file.uploaded, for an upload) and starts its workflow; answers 202. */
  async function accept(ctx: Context, row: Conversion, uploaded: PublishedEvent | undefined): Promise<void> {
    // Not awaited: the answer never waits on webhooks (a first attempt cut off here is the reconcile schedule's).
    if (uploaded) void dispatchOrDefer(deps.deliveries, uploaded.deliveries, requestLog(ctx, deps.log));
    try {
      await startConversionWorkflow(deps.temporal, row, conversionRunSettings(config));
    } catch (error) {
      // The row is stored and stays queued; the reconcile schedule starts its workflow once Temporal answers.
      requestLog(ctx, deps.log)(`could not start the workflow of ${row.id} yet; it stays queued`, error);
    }
    ctx.status = 202;
    ctx.set('Location', `/v1/conversions/${row.id}`);
    ctx.body = presentConversion(row, deps.signer);
  }

  /** A conversion whose original the workflow fetches from `sourceUrl`: nothing to store now but the row. */
  async function acceptSource(ctx: Context, accountId: string, fields: Parsed & { sourceUrl: string }, raw: Record<string, string>): Promise<void> {
    await idempotent(ctx, deps, requestFingerprint(JSON.stringify(Object.entries(raw).sort())), async () => {
      const id = newId('cnv');
      const row = await insertQueuedConversion(db, {
        id,
        accountId,
        options: fields.options,
        inputKey: inputKeyFor(id),
        filename: raw.filename ? safeSourceName(raw.filename) : sourceFilename(fields.sourceUrl),
        bytes: 0,
        contentType: undefined,
        webhook: fields.webhook,
        sourceUrl: fields.sourceUrl,
      });
      await accept(ctx, row, undefined);
    });
  }

  router.post('/v1/conversions', async (ctx) => {
    const accountId = accountOf(ctx).id;
    // A JSON body names a source_url (there is no file to send with it).
    if (ctx.is('application/json')) {
      const raw = jsonFields(await readJsonBody(ctx));
      const fields = await parseFields(accountId, raw);
      if (fields.sourceUrl === undefined)
        throw new ApiError(400, 'file_required', 'a JSON body names its image by source_url; send a file as multipart or as the raw body');
      return acceptSource(ctx, accountId, { ...fields, sourceUrl: fields.sourceUrl }, raw);
    }
    // The file's hash only matters to a request that can be replayed.
    const spool = { dir: deps.spoolDir, maxBytes: config.maxUploadBytes, hashed: hasIdempotencyKey(ctx) };
    const upload = await receiveUpload(ctx, spool, (fields) => parseFields(accountId, fields));
    const { options, webhook, sourceUrl } = upload.fields;
    let accepted = false;
    try {
      const file = upload.file;
      if (sourceUrl !== undefined) {
        if (file && file.bytes > 0) throw new ApiError(400, 'invalid_options', 'send a file or a source_url, not both', { field: SOURCE_FIELD });
        return await acceptSource(ctx, accountId, { ...upload.fields, sourceUrl }, { ...upload.rawFields });
      }
      if (!file) throw new ApiError(400, 'file_required', 'send the image as the multipart field "file", or as the raw request body, or name it by source_url');
      if (file.bytes === 0) throw new ApiError(400, 'empty_file', 'the uploaded file is empty');
      refuseNonImages([file]);
      const sameUpload = requestFingerprint(JSON.stringify(Object.entries(upload.rawFields).sort()), file.sha256 ?? '', file.filename, file.contentType ?? '');
      await idempotent(ctx, deps, sameUpload, async () => {
        const id = newId('cnv');
        const inputKey = inputKeyFor(id);
        await deps.blobs.importFile(inputKey, file.path);
        accepted = true;
        // Everything was checked before the import; should the database refuse the row anyway, no blob outlives it.
        // The file.uploaded event is stored with the row, and its deliveries handed over once both are.
        const { row, uploaded } = await deleteBlobsIfStoreFails(deps.blobs, requestLog(ctx, deps.log), [inputKey], () =>
          db.transaction().execute(async (trx) => {
            const inserted = await insertQueuedConversion(trx, {
              id,
              accountId,
              options,
              inputKey,
              filename: file.filename,
              bytes: file.bytes,
              contentType: file.contentType,
              webhook,
            });
            const event = await storeConversionEvent(trx, inserted, 'file.uploaded', deps.delivery.defaultRetrySchedule);
            return { row: inserted, uploaded: event };
          }),
        );
        await accept(ctx, row, uploaded);
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
