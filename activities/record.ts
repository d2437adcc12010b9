import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Database } from '../src/db/schema.js';
import { publishConversionEvent } from '../src/conversions/events.js';
import type { DeliverySettings } from '../src/webhooks/dispatch.js';
import { log } from '@temporalio/activity';
import type { ConvertResult } from './convert.js';

export interface RecordDependencies {
  db: Kysely<Database>;
  /** Starts delivery workflows for the events recorded here. */
  temporal: Client;
  delivery: DeliverySettings;
}

/** Database writes of the conversion workflow; each is idempotent, so Temporal may retry it freely. */
export function createRecordActivities({ db, temporal, delivery }: RecordDependencies) {
  const events = {
    db,
    temporal,
    delivery,
    log: (message: string, error?: unknown): void => {
      log.warn(message, { error: String(error) });
    },
  };

  return {
    async recordConversionStarted(conversionId: string): Promise<void> {
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
