import type { CreatedRange } from './list-filters.js';
import { sql, type Kysely, type QueryCreator } from 'kysely';
import type { EventType } from '../model/event-catalog.js';
import type { StoredRendition, Conversion, ConversionStatus, ConversionUpdate, Database, NewConversion } from './schema.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { conversionWorkflowId, jobWorkflowId } from '../names.js';

const OPEN_STATUSES: ConversionStatus[] = ['queued', 'running'];

export function isFinished(status: ConversionStatus): boolean {
  return !OPEN_STATUSES.includes(status);
}

export interface AcceptedUpload {
  id: string;
  accountId: string;
  options: ConversionOptions;
  inputKey: string;
  filename: string;
  bytes: number;
  contentType: string | undefined;
  webhook?: RequestWebhook;
  /** Fetched from here by the workflow (bytes 0 until then), instead of uploaded. */
  sourceUrl?: string;
}

/** Where a conversion's (or a job's) own events go besides the account's endpoints, as sent with it. */
export interface RequestWebhook {
  webhookUrl: string | null;
  /** The event types webhookUrl gets; null: all of them. */
  events: EventType[] | null;
  metadata: Record<string, unknown> | null;
  tag: string | null;
}

/** A request webhook as conversions and jobs store it. */
export function requestWebhookColumns(webhook: RequestWebhook | undefined) {
  return {
    webhook_url: webhook?.webhookUrl ?? null,
    webhook_events: webhook?.events ? JSON.stringify(webhook.events) : null,
    webhook_metadata: webhook?.metadata ? JSON.stringify(webhook.metadata) : null,
    tag: webhook?.tag ?? null,
  };
}

/** The row of a conversion whose original is already in the blob store, as `queued` (a file of `job` when given). */
export function queuedConversionRow(upload: AcceptedUpload, job?: { id: string; index: number }): NewConversion {
  return {
    id: upload.id,
    account_id: upload.accountId,
    status: 'queued',
    // A job's files are converted in its own run (in groups of files), not a run each.
    workflow_id: job ? jobWorkflowId(job.id) : conversionWorkflowId(upload.id),
    options: JSON.stringify(upload.options),
    input_key: upload.inputKey,
    input_filename: upload.filename,
    input_bytes: upload.bytes,
    input_content_type: upload.contentType ?? null,
    source_url: upload.sourceUrl ?? null,
    ...requestWebhookColumns(upload.webhook),
    updated_at: new Date(),
    job_id: job?.id ?? null,
    job_index: job?.index ?? null,
  };
}

/** Stores a conversion whose original is already in the blob store, as `queued`. */
export async function insertQueuedConversion(db: Kysely<Database>, upload: AcceptedUpload): Promise<Conversion> {
  return db.insertInto('conversions').values(queuedConversionRow(upload)).returningAll().executeTakeFirstOrThrow();
}

/** A conversion as its owner sees it; another account's id finds nothing. */
export async function findConversion(db: Kysely<Database>, accountId: string, id: string): Promise<Conversion | undefined> {
  return db.selectFrom('conversions').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

/** For the worker and for signed downloads, which act on behalf of whoever owns the row. */
export async function findConversionById(db: Kysely<Database>, id: string): Promise<Conversion | undefined> {
  return db.selectFrom('conversions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** What a conversion list may be narrowed to. */
export interface ConversionFilter extends CreatedRange {
  status?: ConversionStatus;
  outputFormat?: string;
  tag?: string;
}

export async function listConversions(
  db: Kysely<Database>,
  accountId: string,
  page: { limit: number; after?: string },
  filter: ConversionFilter = {},
): Promise<Conversion[]> {
  let query = db.selectFrom('conversions').selectAll().where('account_id', '=', accountId);
  if (page.after) query = query.where('id', '<', page.after);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.outputFormat) query = query.where('output_format', '=', filter.outputFormat);
  if (filter.tag !== undefined) query = query.where('tag', '=', filter.tag);
  if (filter.createdAfter) query = query.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) query = query.where('created_at', '<', filter.createdBefore);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** The update that marks an attempt started (see markRunning), to run on its own or inside a larger statement. */
export function markRunningUpdate(db: QueryCreator<Database>, id: string, countAttempt: boolean) {
  return db
    .updateTable('conversions')
    .set({
      status: 'running',
      started_at: sql`coalesce(started_at, now())`,
      updated_at: sql`now()`,
      ...(countAttempt ? { attempts: sql<number>`attempts + 1` } : {}),
    })
    .where('id', '=', id)
    .where('status', 'in', OPEN_STATUSES)
    .returningAll();
}

/**
 * Marks an attempt as started, counting it in `attempts` when `countAttempt` (a job's files:
 * their tries are counted here, not by a retry policy of their own). Returns the row, or
 * undefined when it had already finished.
 */
export async function markRunning(db: Kysely<Database>, id: string, countAttempt = false): Promise<Conversion | undefined> {
  return markRunningUpdate(db, id, countAttempt).executeTakeFirst();
}

export interface OutputFacts {
  input: { format: string; width: number; height: number; pages?: number };
  output: { key: string; filename: string; format: string; bytes: number; width: number; height: number; frames?: number };
  /** Every output, the first included, for a conversion that asked for several. */
  renditions?: StoredRendition[];
  /** Which attempt of the convert activity produced the output. */
  attempt: number;
}

type FinishResult = { row: Conversion; changed: boolean } | undefined;

async function finish(db: Kysely<Database>, id: string, values: ConversionUpdate): Promise<FinishResult> {
  const changed = await db
    .updateTable('conversions')
    .set({ ...values, updated_at: sql`now()`, completed_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', OPEN_STATUSES)
    .returningAll()
    .executeTakeFirst();
  if (changed) return { row: changed, changed: true };
  const row = await findConversionById(db, id);
  return row ? { row, changed: false } : undefined;
}

/** A source fetched into the blob store: its size and type, while the conversion is still open; answers the row when this call changed it. */
export async function markSourceFetched(
  db: Kysely<Database>,
  id: string,
  fetched: { bytes: number; contentType: string | null },
): Promise<Conversion | undefined> {
  return db
    .updateTable('conversions')
    .set({ input_bytes: fetched.bytes, input_content_type: fetched.contentType, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', OPEN_STATUSES)
    .where('input_bytes', '=', 0)
    .returningAll()
    .executeTakeFirst();
}

export function markSucceeded(db: Kysely<Database>, id: string, facts: OutputFacts): Promise<FinishResult> {
  return finish(db, id, {
    status: 'succeeded',
    input_format: facts.input.format,
    input_width: facts.input.width,
    input_height: facts.input.height,
    input_pages: facts.input.pages ?? null,
    output_key: facts.output.key,
    output_filename: facts.output.filename,
    output_format: facts.output.format,
    output_bytes: facts.output.bytes,
    output_width: facts.output.width,
    output_height: facts.output.height,
    output_frames: facts.output.frames ?? null,
    outputs: facts.renditions ? JSON.stringify(facts.renditions) : null,
    attempts: facts.attempt,
  });
}

export function markFailed(db: Kysely<Database>, id: string, error: { code: string; message: string }): Promise<FinishResult> {
  return finish(db, id, { status: 'failed', error_code: error.code, error_message: error.message });
}

export function markCancelled(db: Kysely<Database>, id: string): Promise<FinishResult> {
  return finish(db, id, { status: 'cancelled', error_code: 'cancelled', error_message: 'the conversion was cancelled' });
}

/**
 * Accepted conversions whose workflow may never have been started (the API died between
 * the insert and the start). A job's files are its workflow's to start, not these.
 */
export async function listStaleQueued(db: Kysely<Database>, olderThanSeconds: number, limit: number): Promise<Conversion[]> {
  return db
    .selectFrom('conversions')
    .selectAll()
    .where('status', '=', 'queued')
    .where('job_id', 'is', null)
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** The account's conversions among `ids` (another account's are not found). */
export function findConversionsOf(db: Kysely<Database>, accountId: string, ids: string[]): Promise<Conversion[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('conversions').selectAll().where('account_id', '=', accountId).where('id', 'in', ids).execute();
}
