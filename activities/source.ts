import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { recordConversionStep, type ConversionEventDependencies } from '../src/conversions/events.js';
import { sniffImage } from '../src/convert/sniff.js';
import { findConversionById, markSourceFetched } from '../src/db/conversions.js';
import { fetchSource, SourceFetchError, type SourceLimits } from '../src/sources/fetch-source.js';
import type { BlobStore } from '../src/storage/blob-store.js';

export interface SourceDependencies {
  events: ConversionEventDependencies;
  blobs: BlobStore;
  limits: SourceLimits;
  /** Where a fetch is written before it goes into the blob store. */
  spoolDir: string;
}

export interface FetchSourceInput {
  conversionId: string;
  sourceUrl: string;
  inputKey: string;
}

/**
 * Fetches a conversion's original from its URL into the blob store, where an upload would
 * have put it, and records `file.uploaded` with its size. A failure the source may get
 * over (no answer, a 5xx, a timeout) is retried by the activity's retry policy; any other
 * is final, typed with the conversion's error code.
 */
export function createSourceActivities({ events, blobs, limits, spoolDir }: SourceDependencies) {
  return {
    async fetchConversionSource(input: FetchSourceInput): Promise<{ bytes: number }> {
      const row = await findConversionById(events.db, input.conversionId);
      // An earlier attempt got it all the way in: nothing to fetch again.
      if (row && row.input_bytes > 0 && (await blobs.size(input.inputKey)) === row.input_bytes) return { bytes: row.input_bytes };
      await mkdir(spoolDir, { recursive: true });
      const target = path.join(spoolDir, `source-${input.conversionId}-${randomBytes(6).toString('hex')}`);
      try {
        const fetched = await fetchSource(input.sourceUrl, target, limits);
        const sniffed = sniffImage(fetched.head);
        if (!sniffed.image) {
          throw ApplicationFailure.create({
            type: 'unsupported_input',
            message: `the source looks like ${sniffed.looksLike}, not an image Kiln reads`,
            nonRetryable: true,
          });
        }
        await blobs.importFile(input.inputKey, target);
        await recordConversionStep(events, 'file.uploaded', (trx) =>
          markSourceFetched(trx, input.conversionId, { bytes: fetched.bytes, contentType: fetched.contentType ?? null }),
        );
        return { bytes: fetched.bytes };
      } catch (error) {
        if (error instanceof SourceFetchError) {
          throw ApplicationFailure.create({
            type: error.code,
            message: error.message,
            nonRetryable: !error.retryable,
            details: error.status ? [{ status: error.status }] : [],
          });
        }
        throw error;
      } finally {
        await rm(target, { force: true });
      }
    },
  };
}

export type SourceActivities = ReturnType<typeof createSourceActivities>;
