import type { CreatedRange } from './list-filters.js';
import type { EventType } from '../model/event-catalog.js';
import { sql, type Kysely } from 'kysely';
import type { RotatingSecret, SignatureScheme } from '../signing/webhook-signature.js';
import type { Account, AttemptTrigger, Database, Delivery, DeliveryAttempt, DeliveryStatus, EventRow, WebhookEndpoint } from './schema.js';

export interface NewDelivery {
  id: string;
  accountId: string;
  eventId: string;
  eventType: EventType;
  endpointId: string | null;
  target: string;
  url: string;
  workflowId: string;
  retrySchedule: number[];
}

/** Inserts the deliveries of an event; a target that already has one keeps it. Answers the rows inserted. */
export async function insertDeliveries(db: Kysely<Database>, deliveries: NewDelivery[]): Promise<Delivery[]> {
  if (deliveries.length === 0) return [];
  return db
    .insertInto('deliveries')
    .values(
      deliveries.map((d) => ({
        id: d.id,
        account_id: d.accountId,
        event_id: d.eventId,
        event_type: d.eventType,
        endpoint_id: d.endpointId,
        target: d.target,
        url: d.url,
        workflow_id: d.workflowId,
        retry_schedule: JSON.stringify(d.retrySchedule),
        status: 'pending' as const,
      })),
    )
    .onConflict((oc) => oc.columns(['event_id', 'target']).doNothing())
    .returningAll()
    .execute();
}

export async function findDelivery(db: Kysely<Database>, accountId: string, id: string): Promise<Delivery | undefined> {
  return db.selectFrom('deliveries').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export async function findDeliveryById(db: Kysely<Database>, id: string): Promise<Delivery | undefined> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface DeliveryFilter extends CreatedRange {
  endpointId?: string;
  eventType?: EventType;
  status?: DeliveryStatus;
  eventId?: string;
}

export async function listDeliveries(
  db: Kysely<Database>,
  accountId: string,
  filter: DeliveryFilter,
  page: { limit: number; after?: string },
): Promise<Delivery[]> {
  let query = db.selectFrom('deliveries').selectAll().where('account_id', '=', accountId);
  if (filter.endpointId) query = query.where('endpoint_id', '=', filter.endpointId);
  if (filter.eventType) query = query.where('event_type', '=', filter.eventType);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.eventId) query = query.where('event_id', '=', filter.eventId);
  if (filter.createdAfter) query = query.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) query = query.where('created_at', '<', filter.createdBefore);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function listAttempts(db: Kysely<Database>, deliveryId: string): Promise<DeliveryAttempt[]> {
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

export interface AttemptRecord {
  trigger: AttemptTrigger;
  url: string;
  scheduledAt: Date;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  responseBodyPreview: string | null;
  /** The request formed for the attempt (its body as the log keeps it); null when none was. */
  request: { headers: Record<string, string>; body: string } | null;
  error: { class: string; message: string } | null;
  /** When the next scheduled attempt will run, if one will; `unchanged` for a manual attempt, which leaves the schedule alone. */
  nextAttemptAt: Date | null | 'unchanged';
  /** A successful attempt ends the delivery in the same write, sparing the workflow a second activity. */
  succeeded?: boolean;
}

/**
 * Logs attempts, each with its delivery's new summary, in a single statement (a
 * data-modifying CTE, so every part happens or none does); answers, in order, each
 * attempt's number and its delivery's status after it (undefined for a delivery that does
 * not exist). Each delivery may appear once.
 */
export async function recordAttempts(
  db: Kysely<Database>,
  attempts: Array<{ deliveryId: string; attempt: AttemptRecord }>,
): Promise<Array<{ attempt: number; status: DeliveryStatus } | undefined>> {
  if (attempts.length === 0) return [];
  const rows = attempts.map(({ deliveryId, attempt }, index) => {
    const lastError = attempt.error ? `${attempt.error.class}: ${attempt.error.message}` : null;
    const nextAttemptAt = attempt.nextAttemptAt instanceof Date ? attempt.nextAttemptAt : null;
    return sql`(${index}::integer, ${deliveryId}::text, ${attempt.trigger}::text, ${attempt.url}::text, ${attempt.scheduledAt}::timestamptz,
      ${attempt.startedAt}::timestamptz, ${attempt.durationMs}::integer, ${attempt.statusCode}::integer, ${attempt.responseBodyPreview}::text,
      ${attempt.error?.class ?? null}::text, ${attempt.error?.message ?? null}::text, ${lastError}::text, ${nextAttemptAt}::timestamptz,
      ${attempt.nextAttemptAt === 'unchanged'}::boolean, ${attempt.succeeded === true}::boolean,
      ${attempt.request ? JSON.stringify(attempt.request.headers) : null}::jsonb, ${attempt.request?.body ?? null}::text)`;
  });
  const result = await sql<{ position: number; attempt: number; status: DeliveryStatus }>`
    with input (position, delivery_id, trigger, url, scheduled_at, started_at, duration_ms, status_code, preview, error_class, error_message,
                last_error, next_attempt_at, keep_next, succeeded, request_headers, request_body) as (values ${sql.join(rows)}),
    counted as (
      update deliveries d set
        attempt_count = d.attempt_count + 1,
        url = i.url,
        last_status_code = i.status_code,
        last_error = i.last_error,
        next_attempt_at = case when i.keep_next then d.next_attempt_at else i.next_attempt_at end,
        updated_at = now(),
        status = case when i.succeeded then 'succeeded' else d.status end,
        completed_at = case when i.succeeded then now() else d.completed_at end
      from input i
      where d.id = i.delivery_id
      returning i.position, d.id, d.attempt_count, d.status
    ),
    logged as (
      insert into delivery_attempts
        (delivery_id, attempt, trigger, url, scheduled_at, started_at, duration_ms, status_code, response_body_preview, error_class, error_message,
         request_headers, request_body)
      select c.id, c.attempt_count, i.trigger, i.url, i.scheduled_at, i.started_at, i.duration_ms, i.status_code, i.preview, i.error_class, i.error_message,
        i.request_headers, i.request_body
      from counted c join input i on i.position = c.position
      returning delivery_id
    )
    select c.position, c.attempt_count as attempt, c.status from counted c where exists (select 1 from logged l where l.delivery_id = c.id)`.execute(db);
  const byPosition = new Map(result.rows.map((row) => [row.position, { attempt: row.attempt, status: row.status }]));
  return attempts.map((_, index) => byPosition.get(index));
}

/** Where an attempt goes and what it signs with, as the delivery's target stands right now. */
/** A receiver's throttle: at most `perSecond` deliveries a second to whatever `key` names. */
export interface Throttle {
  key: string;
  perSecond: number;
}

export type AttemptTarget =
  | ({ url: string; secrets: RotatingSecret; endpointId: string | null; failing: boolean; throttle: Throttle | null } & ReceiverFormat)
  | { refusal: { class: 'endpoint_deleted' | 'endpoint_disabled'; message: string } };

/** The shape a receiver expects beside Kiln's defaults: custom headers, an extra signature header, a payload template. */
export interface ReceiverFormat {
  headers: Record<string, string>;
  signature: SignatureScheme | null;
  template: string | null;
}

/** A delivery with all one attempt needs: its event and its target. */
export interface DeliveryForAttempt {
  delivery: Delivery;
  event: EventRow;
  target: AttemptTarget;
}

type EndpointForTarget = Pick<
  WebhookEndpoint,
  | 'id'
  | 'url'
  | 'enabled'
  | 'disabled_reason'
  | 'secret'
  | 'previous_secret'
  | 'previous_secret_expires_at'
  | 'failing_since'
  | 'headers'
  | 'signature'
  | 'template'
  | 'rate_limit'
>;

/** An endpoint delivery's target: the endpoint as it stands (undefined: deleted). */
export function endpointTarget(endpoint: EndpointForTarget | undefined): AttemptTarget {
  if (!endpoint) return { refusal: { class: 'endpoint_deleted', message: 'the endpoint was deleted' } };
  if (!endpoint.enabled) {
    const reason = endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : '';
    return { refusal: { class: 'endpoint_disabled', message: `the endpoint is disabled${reason}` } };
  }
  const secrets = { secret: endpoint.secret, previousSecret: endpoint.previous_secret, previousExpiresAt: endpoint.previous_secret_expires_at };
  return {
    url: endpoint.url,
    secrets,
    endpointId: endpoint.id,
    failing: endpoint.failing_since !== null,
    headers: endpoint.headers,
    signature: endpoint.signature,
    template: endpoint.template,
    throttle: endpoint.rate_limit === null ? null : { key: `throttle:${endpoint.id}`, perSecond: endpoint.rate_limit },
  };
}

/** A per-request `webhook_url` delivery's target: its URL, signed with the account's secrets, formed by the account's settings. */
export function requestTarget(
  url: string,
  account: Pick<
    Account,
    | 'id'
    | 'webhook_secret'
    | 'previous_webhook_secret'
    | 'previous_webhook_secret_expires_at'
    | 'webhook_headers'
    | 'webhook_signature'
    | 'webhook_template'
    | 'webhook_rate_limit'
  >,
): AttemptTarget {
  const secrets = {
    secret: account.webhook_secret,
    previousSecret: account.previous_webhook_secret,
    previousExpiresAt: account.previous_webhook_secret_expires_at,
  };
  return {
    url,
    secrets,
    endpointId: null,
    failing: false,
    headers: account.webhook_headers,
    signature: account.webhook_signature,
    template: account.webhook_template,
    // Each webhook_url of the account is a receiver of its own.
    throttle: account.webhook_rate_limit === null ? null : { key: `throttle:${account.id}:${url}`, perSecond: account.webhook_rate_limit },
  };
}

/**
 * Deliveries with their events and their targets' current URL and secrets, in one
 * statement: an endpoint's (re-read for every attempt, so a changed URL or a rotated
 * secret applies at once) or, for a `webhook_url`, the account's.
 */
async function deliveriesForAttempt(
  db: Kysely<Database>,
  filter: { ids: string[] } | { pendingOfEvent: string } | { undispatchedOfDedupeKey: string },
): Promise<DeliveryForAttempt[]> {
  let query = db
    .selectFrom('deliveries as d')
    .innerJoin('events as e', 'e.id', 'd.event_id')
    .innerJoin('accounts as a', 'a.id', 'd.account_id')
    .leftJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .selectAll('d')
    .select([
      'e.subject_id as event_subject_id',
      'e.dedupe_key as event_dedupe_key',
      'e.data as event_data',
      'e.created_at as event_created_at',
      'a.webhook_secret',
      'a.previous_webhook_secret',
      'a.previous_webhook_secret_expires_at',
      'a.webhook_headers',
      'a.webhook_signature',
      'a.webhook_template',
      'a.webhook_rate_limit',
      'w.id as endpoint_found',
      'w.url as endpoint_url',
      'w.enabled as endpoint_enabled',
      'w.disabled_reason as endpoint_disabled_reason',
      'w.secret as endpoint_secret',
      'w.previous_secret as endpoint_previous_secret',
      'w.previous_secret_expires_at as endpoint_previous_secret_expires_at',
      'w.failing_since as endpoint_failing_since',
      'w.headers as endpoint_headers',
      'w.signature as endpoint_signature',
      'w.template as endpoint_template',
      'w.rate_limit as endpoint_rate_limit',
    ]);
  if ('ids' in filter) query = query.where('d.id', 'in', filter.ids);
  else if ('pendingOfEvent' in filter) query = query.where('d.event_id', '=', filter.pendingOfEvent).where('d.status', '=', 'pending');
  else query = query.where('e.dedupe_key', '=', filter.undispatchedOfDedupeKey).where('d.status', '=', 'pending').where('d.dispatched_at', 'is', null);
  const rows = await query.orderBy('d.id').execute();
  return rows.map((row) => {
    const {
      event_subject_id,
      event_dedupe_key,
      event_data,
      event_created_at,
      webhook_secret,
      previous_webhook_secret,
      previous_webhook_secret_expires_at,
      webhook_headers,
      webhook_signature,
      webhook_template,
      webhook_rate_limit,
      endpoint_found,
      endpoint_url,
      endpoint_enabled,
      endpoint_disabled_reason,
      endpoint_secret,
      endpoint_previous_secret,
      endpoint_previous_secret_expires_at,
      endpoint_failing_since,
      endpoint_headers,
      endpoint_signature,
      endpoint_template,
      endpoint_rate_limit,
      ...delivery
    } = row;
    const event: EventRow = {
      id: delivery.event_id,
      account_id: delivery.account_id,
      type: delivery.event_type,
      subject_id: event_subject_id,
      dedupe_key: event_dedupe_key,
      data: event_data,
      created_at: event_created_at,
    };
    const endpoint =
      endpoint_found !== null && endpoint_url !== null && endpoint_secret !== null && endpoint_enabled !== null
        ? {
            id: endpoint_found,
            url: endpoint_url,
            enabled: endpoint_enabled,
            disabled_reason: endpoint_disabled_reason,
            secret: endpoint_secret,
            previous_secret: endpoint_previous_secret,
            previous_secret_expires_at: endpoint_previous_secret_expires_at,
            failing_since: endpoint_failing_since,
            headers: endpoint_headers ?? {},
            signature: endpoint_signature,
            template: endpoint_template,
            rate_limit: endpoint_rate_limit,
          }
        : undefined;
    const target =
      delivery.endpoint_id === null
        ? requestTarget(delivery.url, {
            id: delivery.account_id,
            webhook_rate_limit,
            webhook_secret,
            previous_webhook_secret,
            previous_webhook_secret_expires_at,
            webhook_headers,
            webhook_signature,
            webhook_template,
          })
        : endpointTarget(endpoint);
    return { delivery, event, target };
  });
}

export function findDeliveriesForAttempt(db: Kysely<Database>, ids: string[]): Promise<DeliveryForAttempt[]> {
  return ids.length === 0 ? Promise.resolve([]) : deliveriesForAttempt(db, { ids });
}

/** The event's deliveries still pending. */
export function pendingDeliveriesOfEvent(db: Kysely<Database>, eventId: string): Promise<DeliveryForAttempt[]> {
  return deliveriesForAttempt(db, { pendingOfEvent: eventId });
}

/** The deliveries of the event stored under `dedupeKey` that nobody has taken charge of yet. */
export function undispatchedDeliveriesOfEvent(db: Kysely<Database>, dedupeKey: string): Promise<DeliveryForAttempt[]> {
  return deliveriesForAttempt(db, { undispatchedOfDedupeKey: dedupeKey });
}

/**
 * The scheduled attempts on the delivery's log: its place in the retry schedule. Counted
 * here, not from Temporal's attempt number, so an attempt lost with its worker (it never
 * answered, or never logged) does not use up a place in the schedule.
 */
export async function scheduledAttemptsMade(db: Kysely<Database>, deliveryId: string): Promise<number> {
  const row = await db
    .selectFrom('delivery_attempts')
    .select((eb) => eb.fn.countAll<string>().as('made'))
    .where('delivery_id', '=', deliveryId)
    .where('trigger', '=', 'scheduled')
    .executeTakeFirstOrThrow();
  return Number(row.made);
}

/** Ends a pending delivery (an ended one keeps the state it ended in). */
export async function finishDelivery(db: Kysely<Database>, id: string, status: Exclude<DeliveryStatus, 'pending'>): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status, next_attempt_at: null, updated_at: sql`now()`, completed_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** A re-delivery re-opens the delivery until its manual attempt ends. */
export async function reopenDelivery(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'pending', completed_at: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function markDispatched(db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('deliveries')
    .set({ dispatched_at: sql`now()` })
    .where('id', 'in', ids)
    .where('dispatched_at', 'is', null)
    .execute();
}

/** Not yet in anyone's hands: no workflow, and no claim still running (the creating process's is implicit: `grace` from creation). */
const unclaimed = sql<boolean>`dispatched_at is null and status = 'pending' and (claimed_until is null or claimed_until < now())`;

/**
 * Pending deliveries nobody has taken charge of: no workflow was started for them, and the
 * process that was to make their first attempt died before it ended them (or before it
 * began). Claimed for `leaseSeconds` (so no process takes them back meanwhile); the
 * reconcile schedule starts their workflows.
 */
export async function claimUndispatched(db: Kysely<Database>, olderThanSeconds: number, limit: number, leaseSeconds: number): Promise<Delivery[]> {
  const claimed = await sql<Delivery>`
    update deliveries set claimed_until = now() + make_interval(secs => ${leaseSeconds})
    where id in (
      select id from deliveries
      where ${unclaimed} and created_at < now() - make_interval(secs => ${olderThanSeconds})
      order by created_at limit ${limit} for update skip locked)
    and ${unclaimed}
    returning *`.execute(db);
  return claimed.rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
}

/**
 * Takes back deliveries this process left in the database when it had too many in hand:
 * claims those still unclaimed for `leaseSeconds`, answers their ids (the others the
 * reconcile schedule has taken, or they have ended).
 */
export async function claimForFirstAttempt(db: Kysely<Database>, ids: string[], leaseSeconds: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const claimed = await sql<{ id: string }>`
    update deliveries set claimed_until = now() + make_interval(secs => ${leaseSeconds})
    where id in (${sql.join(ids)}) and ${unclaimed}
    returning id`.execute(db);
  return claimed.rows.map((row) => row.id);
}

/**
 * An endpoint's deliveries created since `since` with one of `statuses`, for recover.
 * Pending ones only when a workflow holds them (waiting for a retry): one without is in its
 * first attempt, or the reconcile schedule's.
 */
export async function deliveriesToRecover(
  db: Kysely<Database>,
  accountId: string,
  endpointId: string,
  since: Date,
  statuses: ReadonlyArray<'failed' | 'pending'>,
): Promise<Delivery[]> {
  return (
    db
      .selectFrom('deliveries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('endpoint_id', '=', endpointId)
      .where('created_at', '>=', since)
      // An event whose payload retention removed has nothing left to send.
      .where((eb) =>
        eb.not(
          eb.exists(
            eb.selectFrom('events').select('events.id').whereRef('events.id', '=', 'deliveries.event_id').where('events.payload_purged_at', 'is not', null),
          ),
        ),
      )
      .where((eb) =>
        eb.or([
          ...(statuses.includes('failed') ? [eb('status', '=', 'failed')] : []),
          ...(statuses.includes('pending') ? [eb.and([eb('status', '=', 'pending'), eb('dispatched_at', 'is not', null)])] : []),
        ]),
      )
      .orderBy('id')
      .execute()
  );
}

/** Points an endpoint's pending deliveries at its new URL (each attempt keeps the URL it was sent to). */
export async function retargetPendingDeliveries(db: Kysely<Database>, endpointId: string, url: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ url, updated_at: sql`now()` })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .execute();
}

/** True once the retention schedule emptied the payload of the delivery's event. */
export async function isEventPurged(db: Kysely<Database>, eventId: string): Promise<boolean> {
  const row = await db.selectFrom('events').select('payload_purged_at').where('id', '=', eventId).executeTakeFirst();
  return row?.payload_purged_at != null;
}

/** Notes that the delivery's target throttle gave an attempt the later turn `until`. */
export async function noteThrottled(db: Kysely<Database>, deliveryId: string, until: Date): Promise<void> {
  await db
    .updateTable('deliveries')
    .set((eb) => ({ throttled_count: eb('throttled_count', '+', 1), throttled_until: until }))
    .where('id', '=', deliveryId)
    .execute();
}
