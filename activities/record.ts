import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { markCancelled, markFailed, markRunning, markSucceeded } from '../src/db/conversions.js';
import type { Conversion, Database } from '../src/db/schema.js';
import type { EventType } from '../src/events/catalog.js';
import { conversionEventData } from '../src/conversions/present.js';
import { dispatchDeliveries, type DeliverySettings } from '../src/webhooks/dispatch.js';
import { publishEvent } from '../src/events/publish.js';
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
  async function publishConversionEvent(row: Conversion, type: EventType): Promise<void> {
    const published = await publishEvent(
      db,
      { accountId: row.account_id, type, subjectId: row.id, dedupeKey: `${row.id}:${type}`, data: conversionEventData(row) },
      { kind: 'subscribers', tag: row.tag, webhookUrl: row.webhook_url },
      delivery.defaultRetrySchedule,
    );
    await dispatchDeliveries(temporal, db, published, delivery, (message, error) => {
      log.warn(message, { error: String(error) });
    });
  }

  return {
    async recordConversionStarted(conversionId: string): Promise<void> {
      const row = await markRunning(db, conversionId);
      if (row) await publishConversionEvent(row, 'conversion.started');
    },

    async recordConversionSucceeded(conversionId: string, outputFilename: string, result: ConvertResult): Promise<void> {
      const finished = await markSucceeded(db, conversionId, {
        input: result.input,
        output: { ...result.output, filename: outputFilename },
        attempt: result.attempt,
      });
      if (finished?.row.status === 'succeeded') await publishConversionEvent(finished.row, 'conversion.completed');
    },

    async recordConversionFailed(conversionId: string, error: { code: string; message: string }): Promise<void> {
      const finished = await markFailed(db, conversionId, error);
      if (finished?.row.status === 'failed') await publishConversionEvent(finished.row, 'conversion.failed');
    },

    async recordConversionCancelled(conversionId: string): Promise<void> {
      const finished = await markCancelled(db, conversionId);
      if (finished?.row.status === 'cancelled') await publishConversionEvent(finished.row, 'conversion.cancelled');
    },
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
