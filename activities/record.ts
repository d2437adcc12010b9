import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Database } from '../src/db/schema.js';
import { dispatchStoredConversionEvent, publishConversionEvent } from '../src/conversions/events.js';
import type { DeliverySettings } from '../src/webhooks/dispatch.js';
import type { ConvertResult } from './convert.js';

export interface RecordDependencies {
  db: Kysely<Database>;
  /** Starts delivery workflows for the events recorded here. */
  temporal: Client;
  delivery: DeliverySettings;
}

/**
 * Database writes of the conversion workflow, each with the events it publishes. Each is
 * idempotent, so Temporal may retry it freely; one whose delivery workflows cannot start
 * throws, and its retry starts them.
 */
export function createRecordActivities({ db, temporal, delivery }: RecordDependencies) {
  const events = { db, temporal, delivery };

  return {
    async recordConversionStarted(conversionId: string): Promise<void> {
      // The upload's own event was stored with the conversion; its deliveries start here, off the request path.
      await dispatchStoredConversionEvent(events, conversionId, 'file.uploaded');
      const row = await markRunning(db, conversionId);
      if (row) await publishConversionEvent(events, row, 'conversion.started');
    },

    async recordConversionSucceeded(conversionId: string, outputFilename: string, result: ConvertResult): Promise<void> {
      const finished = await markSucceeded(db, conversionId, {
        input: result.input,
        output: { ...result.output, filename: outputFilename },
        attempt: result.attempt,
      });
      if (finished?.row.status === 'succeeded') await publishConversionEvent(events, finished.row, 'conversion.completed');
    },

    async recordConversionFailed(conversionId: string, error: { code: string; message: string }): Promise<void> {
      const finished = await markFailed(db, conversionId, error);
      if (finished?.row.status === 'failed') await publishConversionEvent(events, finished.row, 'conversion.failed');
    },

    async recordConversionCancelled(conversionId: string): Promise<void> {
      const finished = await markCancelled(db, conversionId);
      if (finished?.row.status === 'cancelled') await publishConversionEvent(events, finished.row, 'conversion.cancelled');
    },
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
