import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string, string>;

export interface AccountsTable {
  id: string;
  name: string;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  /** First characters of the key, shown in listings so a user can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. Keys are 160+ random bits, so a fast hash suffices. */
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export type ConversionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface ConversionOptionsRecord {
  output_format: string;
  quality?: number;
  width?: number;
  height?: number;
  fit?: string;
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
  input_format: string | null;
  input_width: number | null;
  input_height: number | null;
  output_key: string | null;
  output_filename: string | null;
  output_format: string | null;
  output_bytes: number | null;
  output_width: number | null;
  output_height: number | null;
  error_code: string | null;
  error_message: string | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
}

export interface EventsTable {
  id: string;
  account_id: string;
  type: string;
  /** The object the event is about, e.g. a conversion id. */
  subject_id: string;
  /** Unique per logical event, so an activity retried after a crash publishes it once. */
  dedupe_key: string;
  data: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  conversions: ConversionsTable;
  events: EventsTable;
}

export type Account = Selectable<AccountsTable>;
export type Conversion = Selectable<ConversionsTable>;
export type NewConversion = Insertable<ConversionsTable>;
export type ConversionUpdate = Updateable<ConversionsTable>;
export type EventRow = Selectable<EventsTable>;
