import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { EventType } from '../model/event-catalog.js';
import type { SignatureScheme } from '../signing/webhook-signature.js';
import type { AccountLimits } from '../model/limits.js';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** Set by the database on insert (default now()), by updates afterwards. */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string, string>;

export interface AccountsTable {
  id: string;
  name: string;
  /** Signs deliveries to per-request `webhook_url`s. */
  webhook_secret: string;
  /** The secret before the last rotation, still signing until it expires. */
  previous_webhook_secret: string | null;
  previous_webhook_secret_expires_at: NullableTimestamp;
  created_at: CreatedAt;
  /** How deliveries to per-request `webhook_url`s are formed: an extra signature header, a payload template, custom headers. */
  webhook_signature: ColumnType<SignatureScheme | null, string | null | undefined, string | null>;
  webhook_template: ColumnType<string | null, string | null | undefined, string | null>;
  webhook_headers: ColumnType<Record<string, string>, string | undefined, string>;
  /** The operator's limits for this account, over the configured defaults. */
  limits: ColumnType<AccountLimits, string | undefined, string>;
  /** Deliveries per second to each of the account's `webhook_url`s; null: as fast as they come. */
  webhook_rate_limit: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  /** What the owner calls it (`default` for the first key of an account). */
  name: string;
  /** First characters of the key, shown in listings so a user can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. Keys are 160+ random bits, so a fast hash suffices. */
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  /** When a key made by a sign-in link stops working; null: never. */
  expires_at: NullableTimestamp;
}

/** A dashboard sign-in link: its token (hashed), used at most once before it expires. */
export interface SignInLinksTable {
  token_hash: string;
  account_id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export const CONVERSION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type ConversionStatus = (typeof CONVERSION_STATUSES)[number];

export interface ConversionOptionsRecord {
  output_format: string;
  quality?: number;
  width?: number;
  height?: number;
  fit?: string;
}

/** One output of a conversion with several, as stored. */
export interface StoredRendition {
  key: string;
  filename: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  frames?: number;
}

export interface ConversionsTable {
  id: string;
  account_id: string;
  status: ConversionStatus;
  workflow_id: string;
  options: Json<ConversionOptionsRecord>;
  input_key: string;
  input_filename: string;
  input_bytes: number;
  input_content_type: string | null;
  /** Where the original is fetched from, for a conversion made from a URL (null: uploaded). */
  source_url: ColumnType<string | null, string | null | undefined, string | null>;
  input_format: string | null;
  input_width: number | null;
  input_height: number | null;
  /** Pages of a multi-page original (a PDF's, even one); null for a single image or before it was read. */
  input_pages: ColumnType<number | null, number | null | undefined, number | null>;
  output_key: string | null;
  output_filename: string | null;
  output_format: string | null;
  output_bytes: number | null;
  output_width: number | null;
  output_height: number | null;
  /** Every output of a conversion that asked for several (the first is also in output_*); null: one output. */
  outputs: ColumnType<StoredRendition[] | null, string | null | undefined, string | null>;
  /** Frames of an animated output; null for a still. */
  output_frames: ColumnType<number | null, number | null | undefined, number | null>;
  error_code: string | null;
  error_message: string | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  webhook_url: string | null;
  /** The event types webhook_url gets; null: all of them. */
  webhook_events: ColumnType<EventType[] | null, string | null | undefined, string | null>;
  webhook_metadata: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  tag: string | null;
  /** The job the conversion is a file of (its workflow starts the conversion's); null for a conversion of its own. */
  job_id: ColumnType<string | null, string | null | undefined, never>;
  /** Its place in the job, from 0. */
  job_index: ColumnType<number | null, number | null | undefined, never>;
  /** When the retention schedule deleted the original (KILN_RETENTION_ORIGINALS). */
  input_purged_at: ColumnType<Date | null, never, Date | null>;
  /** When the retention schedule deleted the outputs (KILN_RETENTION_OUTPUTS): the download is expired. */
  output_purged_at: ColumnType<Date | null, never, Date | null>;
}

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobsTable {
  id: string;
  account_id: string;
  status: JobStatus;
  workflow_id: string;
  /** How many files. */
  total: number;
  /** The options every file shares, as the API understood them. */
  options: Json<ConversionOptionsRecord>;
  /** Files converting at once at most (the workflow's window). */
  concurrency: number;
  /** The job's own count of its files, kept by its workflow: started and not finished, and finished each way. */
  files_running: Generated<number>;
  files_succeeded: Generated<number>;
  files_failed: Generated<number>;
  files_cancelled: Generated<number>;
  webhook_url: string | null;
  /** The event types webhook_url gets; null: all of them. */
  webhook_events: ColumnType<EventType[] | null, string | null | undefined, string | null>;
  webhook_metadata: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  tag: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
}

export interface EventsTable {
  id: string;
  account_id: string;
  type: EventType;
  /** The object the event is about, e.g. a conversion id. */
  subject_id: string;
  /** Unique per logical event, so an activity retried after a crash publishes it once. */
  dedupe_key: string;
  data: Json<Record<string, unknown>>;
  created_at: CreatedAt;
  /** Storage order: rows of one insert in the order given, later inserts after them. */
  seq: Generated<number>;
  /** When the retention schedule emptied `data` (KILN_RETENTION_EVENTS). */
  payload_purged_at: ColumnType<Date | null, never, Date | null>;
  /** Who is meant to hear the event, while its deliveries are still to be planned (see events/publish.ts); null once they are. */
  fanout: ColumnType<FanOutRouting | null, string | null | undefined, string | null>;
}

/** How an event's deliveries are planned after it is stored: its account's endpoints subscribed to it, and a conversion's own webhook_url. */
export interface FanOutRouting {
  tag: string | null;
  webhook_url: string | null;
  webhook_events: EventType[] | null;
}

export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  url: string;
  description: Generated<string>;
  /** Subscribed event types; empty means all. */
  event_types: Json<EventType[]>;
  /** Subscribed tags; empty means all, tagged or not. */
  tags: Json<string[]>;
  /** Waits between attempts in seconds; null follows the global default. */
  retry_schedule: ColumnType<number[] | null, string | null | undefined, string | null>;
  enabled: boolean;
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: NullableTimestamp;
  /** When the current run of failed attempts began; null after any success. */
  failing_since: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  /** Sent with every delivery to this endpoint, beside (never instead of) Kiln's own headers. */
  headers: ColumnType<Record<string, string>, string | undefined, string>;
  /** An extra signature header in the shape the receiver checks; null: Kiln's own headers only. */
  signature: ColumnType<SignatureScheme | null, string | null | undefined, string | null>;
  /** A JSONata template the body is rendered with; null: Kiln's envelope as it is. */
  template: ColumnType<string | null, string | null | undefined, string | null>;
  /** Deliveries per second it takes; null: as fast as they come. */
  rate_limit: ColumnType<number | null, number | null | undefined, number | null>;
}

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface DeliveriesTable {
  id: string;
  account_id: string;
  event_id: string;
  event_type: EventType;
  endpoint_id: string | null;
  /** The endpoint id, or `request` for a conversion's own webhook_url. */
  target: string;
  url: string;
  workflow_id: string;
  retry_schedule: Json<number[]>;
  status: DeliveryStatus;
  attempt_count: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: NullableTimestamp;
  /** When its workflow was started; null rows are picked up by the reconciler. */
  dispatched_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  completed_at: NullableTimestamp;
  /** Times its target's throttle gave an attempt a later turn; and the latest turn given. */
  throttled_count: Generated<number>;
  throttled_until: NullableTimestamp;
  /** Until when a process has it in hand for its first attempt (or the reconcile schedule, to start its workflow). */
  claimed_until: ColumnType<Date | null, never, Date | null>;
}

export type AttemptTrigger = 'scheduled' | 'manual';

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  attempt: number;
  trigger: AttemptTrigger;
  url: string;
  /** When Temporal scheduled this attempt (the server's clock, so retry waits read exactly). */
  scheduled_at: Timestamp;
  started_at: Timestamp;
  duration_ms: number;
  status_code: number | null;
  response_body_preview: string | null;
  /** The request Kiln formed for the attempt; null when none was (a refusal, a failed template) or retention emptied it. */
  request_headers: ColumnType<Record<string, string> | null, string | null | undefined, string | null>;
  /** Its body, the first REQUEST_BODY_LOG_BYTES of it (src/webhooks/attempt.ts). */
  request_body: string | null;
  error_class: string | null;
  error_message: string | null;
}

export interface IdempotencyKeysTable {
  account_id: string;
  /** The client's Idempotency-Key header, scoped by account. */
  key: string;
  /** SHA-256 of the request (method, path, body) the key was first used with. */
  fingerprint: string;
  state: 'in_flight' | 'done';
  response_status: number | null;
  response_type: string | null;
  response_location: string | null;
  /** The first response's body exactly as sent, for byte-for-byte replays. */
  response_body: string | null;
  /** When the request that owns the key took it. */
  claimed_at: UpdatedAt;
  expires_at: Timestamp;
}

export interface PresetsTable {
  id: string;
  account_id: string;
  /** What `preset=` names: 1–64 of a-z, 0-9, . _ - (unique per account). */
  name: string;
  /** Option fields as forms send them (text), each valid on its own. */
  options: Json<Record<string, string>>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface AssetsTable {
  id: string;
  account_id: string;
  filename: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  /** Where its bytes are kept (under its account; see storage/keys.ts). */
  blob_key: string;
  created_at: CreatedAt;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  conversions: ConversionsTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  idempotency_keys: IdempotencyKeysTable;
  jobs: JobsTable;
  presets: PresetsTable;
  assets: AssetsTable;
  rate_limits: RateLimitsTable;
  sign_in_links: SignInLinksTable;
}

/** One rate limit's state: the theoretical arrival time of the next request (GCRA). */
export interface RateLimitsTable {
  key: string;
  tat: Timestamp;
}

export type Account = Selectable<AccountsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type IdempotencyKey = Selectable<IdempotencyKeysTable>;
export type Conversion = Selectable<ConversionsTable>;
export type Job = Selectable<JobsTable>;
export type Preset = Selectable<PresetsTable>;
export type Asset = Selectable<AssetsTable>;
export type NewConversion = Insertable<ConversionsTable>;
export type ConversionUpdate = Updateable<ConversionsTable>;
/** An event as Kiln passes it around (its storage order stays in the database). */
export type EventRow = Omit<Selectable<EventsTable>, 'seq' | 'payload_purged_at' | 'fanout'>;
/** An event as read back, with when retention emptied its payload (null while kept). */
export type StoredEventRow = EventRow & { payload_purged_at: Date | null };
export type WebhookEndpoint = Selectable<WebhookEndpointsTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type DeliveryAttempt = Selectable<DeliveryAttemptsTable>;
