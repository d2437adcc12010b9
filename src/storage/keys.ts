import { EXTENSIONS, type OutputFormat } from '../model/formats.js';

/**
 * Where each kind of blob is kept, the only place keys are made. Every key starts with the
 * account that owns the blob, so a reader handed another account's id finds nothing even
 * where a check above it was missed. Keys are stored with the rows that own them (a
 * conversion's input and outputs, an asset): blobs written before keys carried the account
 * stay where they are and are still found through their rows.
 */

export function conversionInputKey(accountId: string, conversionId: string): string {
  return `${accountId}/conversions/${conversionId}/input`;
}

export function conversionOutputKey(accountId: string, conversionId: string, format: OutputFormat): string {
  return `${accountId}/conversions/${conversionId}/output.${EXTENSIONS[format]}`;
}

/** Where output `index` (from 1) of a conversion with several goes, beside its first output. */
export function renditionKey(outputKey: string, index: number, format: OutputFormat): string {
  return `${outputKey.replace(/\/[^/]*$/, '')}/output-${index}.${EXTENSIONS[format]}`;
}

/** Every key a conversion's outputs go to: `outputKey`, then each further output's beside it (see renditionKey). */
export function allOutputKeys(outputKey: string, outputs: ReadonlyArray<{ output_format: OutputFormat }> | undefined): string[] {
  return [outputKey, ...(outputs ?? []).slice(1).map((output, i) => renditionKey(outputKey, i + 1, output.output_format))];
}

export function assetKey(accountId: string, assetId: string): string {
  return `${accountId}/assets/${assetId}`;
}
