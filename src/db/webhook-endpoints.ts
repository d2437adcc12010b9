import type { EventType } from '../model/event-catalog.js';
import { sql, type Kysely } from 'kysely';
import { newId } from '../ids.js';
import { generateWebhookSecret, rotateSecret, type RotatingSecret, type SignatureScheme } from '../signing/webhook-signature.js';
import type { Account, Database, WebhookEndpoint } from './schema.js';

export interface EndpointFields {
  url: string;
  description: string;
  eventTypes: EventType[];
  tags: string[];
  retrySchedule: number[] | null;
  /** Deliveries per second; null (or absent): unthrottled. */
  rateLimit?: number | null;
  enabled: boolean;
  headers: Record<string, string>;
  /** An extra signature header (none when absent). */
  signature?: SignatureScheme | null;
  /** A payload template (none when absent). */
  template?: string | null;
  /** A secret the receiver already holds; a new one is made when absent. */
  secret?: string;
}

export async function createEndpoint(db: Kysely<Database>, accountId: string, fields: EndpointFields): Promise<WebhookEndpoint> {
  return db
    .insertInto('webhook_endpoints')
    .values({
      id: newId('ep'),
      account_id: accountId,
      url: fields.url,
      description: fields.description,
      event_types: JSON.stringify(fields.eventTypes),
      tags: JSON.stringify(fields.tags),
      retry_schedule: fields.retrySchedule ? JSON.stringify(fields.retrySchedule) : null,
      rate_limit: fields.rateLimit ?? null,
      enabled: fields.enabled,
      headers: JSON.stringify(fields.headers),
      signature: fields.signature ? JSON.stringify(fields.signature) : null,
      template: fields.template ?? null,
      secret: fields.secret ?? generateWebhookSecret(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findEndpoint(db: Kysely<Database>, accountId: string, id: string): Promise<WebhookEndpoint | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

/** For the delivery worker, which acts on behalf of the endpoint's owner. */
export async function findEndpointById(db: Kysely<Database>, id: string): Promise<WebhookEndpoint | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listEndpoints(db: Kysely<Database>, accountId: string, page: { limit: number; after?: string }): Promise<WebhookEndpoint[]> {
  let query = db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** Applies the given fields; re-enabling clears the reason it was disabled and its failure streak. */
export async function updateEndpoint(
  db: Kysely<Database>,
  accountId: string,
  id: string,
  fields: Partial<EndpointFields>,
): Promise<WebhookEndpoint | undefined> {
  const values: Record<string, unknown> = { updated_at: sql`now()` };
  if (fields.url !== undefined) values.url = fields.url;
  if (fields.description !== undefined) values.description = fields.description;
  if (fields.eventTypes !== undefined) values.event_types = JSON.stringify(fields.eventTypes);
  if (fields.tags !== undefined) values.tags = JSON.stringify(fields.tags);
  if (fields.headers !== undefined) values.headers = JSON.stringify(fields.headers);
  if (fields.signature !== undefined) values.signature = fields.signature ? JSON.stringify(fields.signature) : null;
  if (fields.template !== undefined) values.template = fields.template;
  if (fields.rateLimit !== undefined) values.rate_limit = fields.rateLimit;
  if (fields.retrySchedule !== undefined) values.retry_schedule = fields.retrySchedule ? JSON.stringify(fields.retrySchedule) : null;
  if (fields.enabled !== undefined) {
    values.enabled = fields.enabled;
    if (fields.enabled) {
      values.disabled_reason = null;
      values.failing_since = null;
    }
  }
  return db.updateTable('webhook_endpoints').set(values).where('account_id', '=', accountId).where('id', '=', id).returningAll().executeTakeFirst();
}

export async function deleteEndpoint(db: Kysely<Database>, accountId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webhook_endpoints').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export function endpointSecrets(endpoint: WebhookEndpoint): RotatingSecret {
  return { secret: endpoint.secret, previousSecret: endpoint.previous_secret, previousExpiresAt: endpoint.previous_secret_expires_at };
}

export function accountSecrets(account: Account): RotatingSecret {
  return {
    secret: account.webhook_secret,
    previousSecret: account.previous_webhook_secret,
    previousExpiresAt: account.previous_webhook_secret_expires_at,
  };
}

/** Replaces the endpoint's secret (with `next`, or a new one); the old one keeps signing beside it for `overlapSeconds`. */
export async function rotateEndpointSecret(
  db: Kysely<Database>,
  accountId: string,
  id: string,
  overlapSeconds: number,
  next?: string,
): Promise<WebhookEndpoint | undefined> {
  return db.transaction().execute(async (trx) => {
    const endpoint = await trx
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!endpoint) return undefined;
    const rotated = rotateSecret(endpointSecrets(endpoint), new Date(), overlapSeconds, next);
    return trx
      .updateTable('webhook_endpoints')
      .set({
        secret: rotated.secret,
        previous_secret: rotated.previousSecret,
        previous_secret_expires_at: rotated.previousExpiresAt,
        updated_at: sql`now()`,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Replaces the account's secret (with `next`, or a new one); the old one keeps signing beside it for `overlapSeconds`. */
export async function rotateAccountSecret(db: Kysely<Database>, accountId: string, overlapSeconds: number, next?: string): Promise<Account> {
  return db.transaction().execute(async (trx) => {
    const account = await trx.selectFrom('accounts').selectAll().where('id', '=', accountId).forUpdate().executeTakeFirstOrThrow();
    const rotated = rotateSecret(accountSecrets(account), new Date(), overlapSeconds, next);
    return trx
      .updateTable('accounts')
      .set({
        webhook_secret: rotated.secret,
        previous_webhook_secret: rotated.previousSecret,
        previous_webhook_secret_expires_at: rotated.previousExpiresAt,
      })
      .where('id', '=', accountId)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Enabled endpoints of the account that want an event of `type` (of any type: null) carrying `tag`. */
export async function subscribedEndpoints(
  db: Kysely<Database>,
  accountId: string,
  type: EventType | null,
  tag: string | null,
  limit?: number,
): Promise<WebhookEndpoint[]> {
  let query = db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('enabled', '=', true)
    // Empty lists subscribe to every type, and to every tag (or none).
    .where(tag === null ? sql<boolean>`tags = '[]'::jsonb` : sql<boolean>`(tags = '[]'::jsonb or tags ? ${tag})`)
    .orderBy('id');
  if (type !== null) query = query.where(sql<boolean>`(event_types = '[]'::jsonb or event_types ? ${type})`);
  if (limit !== undefined) query = query.limit(limit);
  return query.execute();
}

/** Whether `endpoint` takes events of `type`, as subscribedEndpoints selects them. */
export function subscribesTo(endpoint: WebhookEndpoint, type: EventType): boolean {
  return endpoint.event_types.length === 0 || endpoint.event_types.includes(type);
}

/** After an attempt: a success ends the endpoint's failure streak; a failure starts or extends it. */
export async function noteEndpointOutcome(db: Kysely<Database>, endpointId: string, succeeded: boolean, disableAfterSeconds: number): Promise<void> {
  if (succeeded) {
    await db.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', endpointId).where('failing_since', 'is not', null).execute();
    return;
  }
  const endpoint = await db
    .updateTable('webhook_endpoints')
    .set({ failing_since: sql`coalesce(failing_since, now())` })
    .where('id', '=', endpointId)
    .returning(['failing_since', 'enabled'])
    .executeTakeFirst();
  if (endpoint?.enabled && endpoint.failing_since && Date.now() - endpoint.failing_since.getTime() >= disableAfterSeconds * 1000) {
    await disableEndpoint(
      db,
      endpointId,
      `every delivery attempt since ${endpoint.failing_since.toISOString()} failed; disabled after ${Math.round(disableAfterSeconds / 3600)} h of failures`,
    );
  }
}

export async function disableEndpoint(db: Kysely<Database>, endpointId: string, reason: string): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_reason: reason, updated_at: sql`now()` })
    .where('id', '=', endpointId)
    .execute();
}
