import type { Kysely } from 'kysely';
import { markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Database } from '../src/db/schema.js';
import { dispatchStoredConversionEvent, recordConversionStep } from '../src/conversions/events.js';
import type { DeliveryDispatch } from '../src/webhooks/dispatch.js';
import type { ConvertResult } from './convert.js';

export interface RecordDependencies {
  db: Kysely<Database>;
  /** Takes charge of the deliveries of the events recorded here. */
  deliveries: DeliveryDispatch;
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
}

/**
 * Database writes of the conversion workflow, each with the events it publishes. Each is
 * idempotent, so Temporal may retry it freely; one whose deliveries could not be
 * dispatched throws, and its retry dispatches them.
 */
export function createRecordActivities(events: RecordDependencies) {
  return {
    async recordConversionStarted(conversionId: string): Promise<void> {
      // The upload's own event was stored with the conversion; its deliveries start here, off the request path.
      await dispatchStoredConversionEvent(events, conversionId, 'file.uploaded');
      // A retry finds the row already running and publishes the (stored) event again, which starts nothing twice.
      await recordConversionStep(events, 'conversion.started', (trx) => markRunning(trx, conversionId));
    },

    async recordConversionSucceeded(conversionId: string, outputFilename: string, result: ConvertResult): Promise<void> {
      await recordConversionStep(events, 'conversion.completed', async (trx) => {
        const output = { input: result.input, output: { ...result.output, filename: outputFilename }, attempt: result.attempt };
        const finished = await markSucceeded(trx, conversionId, output);
        return finished?.row.status === 'succeeded' ? finished.row : undefined;
      });
    },

    async recordConversionFailed(conversionId: string, error: { code: string; message: string }): Promise<void> {
      await recordConversionStep(events, 'conversion.failed', async (trx) => {
        const finished = await markFailed(trx, conversionId, error);
        return finished?.row.status === 'failed' ? finished.row : undefined;
      });
    },

    async recordConversionCancelled(conversionId: string): Promise<void> {
      await recordConversionStep(events, 'conversion.cancelled', async (trx) => {
        const finished = await markCancelled(trx, conversionId);
        return finished?.row.status === 'cancelled' ? finished.row : undefined;
      });
    },
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
