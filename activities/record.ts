import type { Kysely } from 'kysely';
import { renditionFilename, type OutputFormat } from '../src/model/formats.js';
import { findConversionById, markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Conversion, Database } from '../src/db/schema.js';
import { dispatchStoredConversionEvent, recordConversionStep } from '../src/conversions/events.js';
import type { RoutedEvent } from '../src/events/publish.js';
import type { DeliveryDispatch } from '../src/webhooks/dispatch.js';
import type { BlobStore } from '../src/storage/blob-store.js';

/** Deletes what a cancelled conversion wrote (a key never written is already gone). */
async function deleteOutputs(blobs: BlobStore, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((key) => blobs.delete(key)));
}
import type { ConvertResult } from '../workflows/definitions.js';

export interface RecordDependencies {
  db: Kysely<Database>;
  /** Takes charge of the deliveries of the events recorded here. */
  deliveries: DeliveryDispatch;
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
  /** Where outputs are kept: a cancelled conversion's are deleted. */
  blobs: BlobStore;
}

/**
 * More events to store in the same transaction as a conversion's step, given its row as it
 * then stands (for an end, ended by this call or before it): a job's progress for its file.
 */
export type EndFollowUp = (trx: Kysely<Database>, row: Conversion) => Promise<RoutedEvent[]>;

/** Marks a conversion running in `trx`: answers the row it changed, undefined when it had ended. */
export type MarkRunning = (trx: Kysely<Database>) => Promise<Conversion | undefined>;

/** Runs `also` after the step, on the row the step left (when there is one). */
function followUp(also: EndFollowUp | undefined, current: () => Conversion | undefined) {
  if (!also) return undefined;
  return (trx: Kysely<Database>) => {
    const row = current();
    return row ? also(trx, row) : Promise.resolve([]);
  };
}

/** How a conversion ended, as its row says once a step was recorded. */
export type RecordedEnd = 'succeeded' | 'failed' | 'cancelled';

/**
 * A conversion's steps as the database records them, each with the event it publishes.
 * Each is idempotent, so a retried activity may run it again; one whose deliveries could
 * not be dispatched throws, and the retry dispatches them.
 */
export function conversionRecorder(events: RecordDependencies) {
  return {
    /**
     * Marks the conversion running (publishing conversion.started once); answers the row as
     * it stands. `mark` makes the change (a job's file counts its try and itself on its job).
     */
    async started(conversionId: string, mark: MarkRunning = (trx) => markRunning(trx, conversionId)): Promise<Conversion | undefined> {
      let running: Conversion | undefined;
      // A retry finds the row already running and publishes the (stored) event again, which starts nothing twice.
      await recordConversionStep(events, 'conversion.started', async (trx) => (running = await mark(trx)));
      return running ?? findConversionById(events.db, conversionId);
    },

    /**
     * Records the output, unless the conversion ended first: one that was cancelled meanwhile
     * (its cancellation claimed the row) keeps no output, so what this attempt wrote is deleted.
     */
    async succeeded(conversionId: string, outputFilename: string, result: ConvertResult, also?: EndFollowUp): Promise<RecordedEnd> {
      let current: Conversion | undefined;
      const ended = { as: 'succeeded' as RecordedEnd };
      await recordConversionStep(
        events,
        'conversion.completed',
        async (trx) => {
          // The first output keeps the conversion's output name; the others are numbered after the original's.
          const renditions = result.renditions?.map((facts, index) => ({
            ...facts,
            filename: index === 0 ? outputFilename : renditionFilename(outputFilename, index, facts.format as OutputFormat),
          }));
          const output = {
            input: result.input,
            output: { ...result.output, filename: outputFilename },
            ...(renditions ? { renditions } : {}),
            attempt: result.attempt,
          };
          const finished = await markSucceeded(trx, conversionId, output);
          current = finished?.row;
          ended.as = (finished?.row.status as RecordedEnd | undefined) ?? 'succeeded';
          // Also when unchanged: a retried attempt publishes again what a crashed one stored (once, by its key).
          return ended.as === 'succeeded' ? finished?.row : undefined;
        },
        followUp(also, () => current),
      );
      if (ended.as === 'cancelled') await deleteOutputs(events.blobs, [result.output.key, ...(result.renditions ?? []).map((r) => r.key)]);
      return ended.as;
    },

    /** Records the failure unless the conversion ended first; answers how it ended. */
    async failed(conversionId: string, error: { code: string; message: string }, also?: EndFollowUp): Promise<RecordedEnd> {
      let current: Conversion | undefined;
      const ended = { as: 'failed' as RecordedEnd };
      await recordConversionStep(
        events,
        'conversion.failed',
        async (trx) => {
          const finished = await markFailed(trx, conversionId, error);
          current = finished?.row;
          ended.as = (finished?.row.status as RecordedEnd | undefined) ?? 'failed';
          return ended.as === 'failed' ? finished?.row : undefined;
        },
        followUp(also, () => current),
      );
      return ended.as;
    },

    /**
     * Cancels the conversion unless it already ended: one compare-and-set on its row, the
     * same the success record makes, so exactly one of them wins. Answers how it ended; when
     * cancelled, deletes `outputKeys` (whatever an attempt wrote before it was stopped).
     */
    async cancelled(conversionId: string, outputKeys: readonly string[] = [], also?: EndFollowUp): Promise<RecordedEnd> {
      let current: Conversion | undefined;
      const ended = { as: 'cancelled' as RecordedEnd };
      await recordConversionStep(
        events,
        'conversion.cancelled',
        async (trx) => {
          const finished = await markCancelled(trx, conversionId);
          current = finished?.row;
          ended.as = (finished?.row.status as RecordedEnd | undefined) ?? 'cancelled';
          return ended.as === 'cancelled' ? finished?.row : undefined;
        },
        followUp(also, () => current),
      );
      if (ended.as === 'cancelled') await deleteOutputs(events.blobs, outputKeys);
      return ended.as;
    },
  };
}

export type ConversionRecorder = ReturnType<typeof conversionRecorder>;

/**
 * The conversion workflow's database writes as (local) activities: its failure and
 * cancellation, and every step for runs started before the convert activity recorded its
 * own start and result.
 */
export function createRecordActivities(events: RecordDependencies) {
  const record = conversionRecorder(events);
  return {
    async recordConversionStarted(conversionId: string): Promise<void> {
      // Runs from before the API handed file.uploaded over itself: its deliveries start here.
      await dispatchStoredConversionEvent(events, conversionId, 'file.uploaded');
      await record.started(conversionId);
    },
    recordConversionSucceeded: (conversionId: string, outputFilename: string, result: ConvertResult) => record.succeeded(conversionId, outputFilename, result),
    recordConversionFailed: (conversionId: string, error: { code: string; message: string }) => record.failed(conversionId, error),
    recordConversionCancelled: (conversionId: string, outputKeys?: string[]) => record.cancelled(conversionId, outputKeys),
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
