import { storeConversionEvent } from '../conversions/events.js';
import { conversionRunSettings, startConversionWorkflow } from '../conversions/workflow.js';
import { insertQueuedConversion, type RequestWebhook } from '../db/conversions.js';
import { admitConversions } from '../limits/quotas.js';
import type { Conversion } from '../db/schema.js';
import { safeFilename } from '../filenames.js';
import { newId } from '../ids.js';
import type { LogFunction } from '../log.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { conversionInputKey } from '../storage/keys.js';
import { deleteBlobsIfStoreFails } from '../storage/orphan-blobs.js';
import type { IncomingFile } from './files.js';
import { startAccepted, type IntakeDependencies } from './intake.js';
import { resolveOptions } from './options.js';
import { CONVERSION_WEBHOOK_FIELDS, parseConversionWebhookFields } from './request-webhook.js';
import { checkedSourceUrl, sourceFilename } from './sources.js';

/** The field naming a URL to fetch the original from, instead of a file. */
export const SOURCE_FIELD = 'source_url';

/** What one conversion asks for, however it was sent. */
export interface ConversionRequest {
  options: ConversionOptions;
  webhook: RequestWebhook;
  /** The URL its original is fetched from, checked; absent for an upload. */
  sourceUrl: string | undefined;
}

/**
 * A conversion's fields (a form's, a query's, or a JSON body's made text): its options
 * under any preset (every asset they name the account's), its webhook fields, source_url.
 * `webhookEvents` is a JSON body's list, where a form sends a comma-separated field.
 */
export async function readConversionRequest(
  deps: IntakeDependencies,
  accountId: string,
  fields: Readonly<Record<string, string>>,
  webhookEvents?: string[],
): Promise<ConversionRequest> {
  const { [SOURCE_FIELD]: sourceUrl, ...rest } = fields;
  const optionFields = Object.fromEntries(Object.entries(rest).filter(([name]) => !(CONVERSION_WEBHOOK_FIELDS as readonly string[]).includes(name)));
  const [options] = await resolveOptions(deps.db, deps.config, accountId, [{ fields: optionFields, renditions: true }]);
  return {
    options: options!,
    webhook: parseConversionWebhookFields(rest, deps.guard, webhookEvents),
    sourceUrl: sourceUrl === undefined ? undefined : checkedSourceUrl(sourceUrl, deps.guard, SOURCE_FIELD),
  };
}

/**
 * Accepts an uploaded file as a conversion: its original stored under the account, the
 * row and its `file.uploaded` stored together, then its run started. Nothing is left in
 * the store if the row is refused.
 */
export async function acceptUpload(
  deps: IntakeDependencies,
  log: LogFunction,
  accountId: string,
  request: ConversionRequest,
  file: IncomingFile,
): Promise<Conversion> {
  const id = newId('cnv');
  const inputKey = conversionInputKey(accountId, id);
  await deps.blobs.importFile(inputKey, file.path);
  const { row, uploaded } = await deleteBlobsIfStoreFails(deps.blobs, log, [inputKey], () =>
    deps.db.transaction().execute(async (trx) => {
      await admitConversions(trx, deps.config, accountId, { conversions: 1, bytes: file.bytes });
      const inserted = await insertQueuedConversion(trx, {
        id,
        accountId,
        options: request.options,
        inputKey,
        filename: file.filename,
        bytes: file.bytes,
        contentType: file.contentType,
        webhook: request.webhook,
      });
      return { row: inserted, uploaded: await storeConversionEvent(trx, inserted, 'file.uploaded', deps.delivery.defaultRetrySchedule) };
    }),
  );
  await startAccepted(deps, log, row.id, [uploaded], () => startConversionWorkflow(deps.temporal, row, conversionRunSettings(deps.config)));
  return row;
}

/**
 * Accepts a conversion whose original its workflow fetches from the request's source_url:
 * only the row is stored now (`file.uploaded` follows the fetch). `filename` names the
 * original instead of the URL's last segment.
 */
export async function acceptSource(
  deps: IntakeDependencies,
  log: LogFunction,
  accountId: string,
  request: ConversionRequest & { sourceUrl: string },
  filename: string | undefined,
): Promise<Conversion> {
  const id = newId('cnv');
  const row = await deps.db.transaction().execute(async (trx) => {
    // A fetched original's bytes count once stored; the conversion counts now.
    await admitConversions(trx, deps.config, accountId, { conversions: 1, bytes: 0 });
    return insertQueuedConversion(trx, {
      id,
      accountId,
      options: request.options,
      inputKey: conversionInputKey(accountId, id),
      filename: filename === undefined ? sourceFilename(request.sourceUrl) : safeFilename(filename, 'source'),
      bytes: 0,
      contentType: undefined,
      webhook: request.webhook,
      sourceUrl: request.sourceUrl,
    });
  });
  await startAccepted(deps, log, row.id, [], () => startConversionWorkflow(deps.temporal, row, conversionRunSettings(deps.config)));
  return row;
}
