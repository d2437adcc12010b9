import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Conversion, Database } from '../db/schema.js';
import type { EventType } from '../events/catalog.js';
import { publishEvent } from '../events/publish.js';
import { dispatchDeliveries, type DeliverySettings } from '../webhooks/dispatch.js';
import { conversionEventData } from './present.js';

export interface ConversionEventDependencies {
  db: Kysely<Database>;
  temporal: Client;
  delivery: DeliverySettings;
  log: (message: string, error?: unknown) => void;
}

/**
 * Records a step of a conversion as an event (once per conversion and type, whoever
 * records it: the workflow's activities or the API) and starts its deliveries.
 */
export async function publishConversionEvent(deps: ConversionEventDependencies, row: Conversion, type: EventType): Promise<void> {
  const published = await publishEvent(
    deps.db,
    { accountId: row.account_id, type, subjectId: row.id, dedupeKey: `${row.id}:${type}`, data: conversionEventData(row) },
    { kind: 'subscribers', tag: row.tag, webhookUrl: row.webhook_url },
    deps.delivery.defaultRetrySchedule,
  );
  await dispatchDeliveries(deps.temporal, deps.db, published, deps.delivery, deps.log);
}
