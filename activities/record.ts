import type { Kysely } from 'kysely';
import { renditionFilename, type OutputFormat } from '../src/model/formats.js';
import { findConversionById, markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Conversion, Database } from '../src/db/schema.js';
import { dispatchStoredConversionEvent, recordConversionStep } from '../src/conversions/events.js';
import type { DeliveryDispatch } from '../src/webhooks/dispatch.js';
import type { ConvertResult } from '../workflows/definitions.js';

export interface RecordDependencies {
  db: Kysely<Database>;
  /** Takes charge of the deliveries of the events recorded here. */
  deliveries: DeliveryDispatch;
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
}

/**
 * A conversion's steps as the database records them, each with the event it publishes.
 * Each is idempotent, so a retried activity may run it again; one whose deliveries could
 * not be dispatched throws, and the retry dispatches them.
 */
export function conversionRecorder(events: RecordDependencies) {
  return {
    /** Marks the conversion running (publishing conversion.started once); answers the row as it stands. */
    async started(conversionId: string): Promise<Conversion | undefined> {
      let running: Conversion | undefined;
      // A retry finds the row already running and publishes the (stored) event again, which starts nothing twice.
      await recordConversionStep(events, 'conversion.started', async (trx) => (running = await markRunning(trx, conversionId)));
      return running ?? findConversionById(events.db, conversionId);
    },

    async succeeded(conversionId: string, outputFilename: string, result: ConvertResult): Promise<void> {
      await recordConversionStep(events, 'conversion.completed', async (trx) => {
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
        return finished?.row.status === 'succeeded' ? finished.row : undefined;
      });
    },

    async failed(conversionId: string, error: { code: string; message: string }): Promise<void> {
      await recordConversionStep(events, 'conversion.failed', async (trx) => {
        const finished = await markFailed(trx, conversionId, error);
        return finished?.row.status === 'failed' ? finished.row : undefined;
      });
    },

    async cancelled(conversionId: string): Promise<void> {
      await recordConversionStep(events, 'conversion.cancelled', async (trx) => {
        const finished = await markCancelled(trx, conversionId);
        return finished?.row.status === 'cancelled' ? finished.row : undefined;
      });
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
    recordConversionCancelled: (conversionId: string) => record.cancelled(conversionId),
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
