import type { Kysely } from 'kysely';
import type { Conversion, Database, Job } from '../db/schema.js';
import { countFileEnded, endUnfinishedFiles, fileCounts, filesNotSucceeded, finishJob, recountJob, requireJob, storeJobCounts } from '../db/jobs.js';
import { storeConversionEvents } from '../conversions/events.js';
import type { JobEventType, StoredEventData } from '../model/event-catalog.js';
import { publishRoutedEvents, type EventRouting, type PublishedEvent, type RoutedEvent } from '../events/publish.js';
import { FAILURES_LISTED, percentDone, type FileOutcome, type JobCounts } from '../model/job-counts.js';

/** Names a job's event once, whoever records it (a retried activity finds the stored one). */
const eventKey = (jobId: string, type: JobEventType, index?: number): string => `${jobId}:${type}${index === undefined ? '' : `:${index}`}`;

function outcomeData(outcome: FileOutcome): StoredEventData<'job.progress'>['file'] {
  return { conversion_id: outcome.conversionId, index: outcome.index, filename: outcome.filename, status: outcome.status, error: outcome.error };
}

function base(job: Job, counts: JobCounts) {
  return { job_id: job.id, counts, progress: percentDone(counts), metadata: job.webhook_metadata, tag: job.tag };
}

/** How a file of a job ended, from its row; undefined while it has not. */
export function rowOutcome(row: Conversion): FileOutcome | undefined {
  if (row.status === 'queued' || row.status === 'running') return undefined;
  const error = row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null;
  return { conversionId: row.id, index: row.job_index!, filename: row.input_filename, status: row.status, error };
}

/** A job's event as it will be stored, by type. */
export type JobEvent =
  | { type: 'job.started'; counts: JobCounts }
  | { type: 'job.progress'; counts: JobCounts; file: FileOutcome }
  | { type: 'job.completed'; counts: JobCounts }
  | { type: 'job.failed'; counts: JobCounts; failures: FileOutcome[]; failuresOmitted: number }
  | { type: 'job.cancelled'; counts: JobCounts };

/** The stored `data` of any job event, checked against its own type's schema. */
type JobEventData = { [T in JobEventType]: StoredEventData<T> }[JobEventType];

function eventData(job: Job, event: JobEvent): JobEventData {
  switch (event.type) {
    case 'job.started':
      return { ...base(job, event.counts), status: 'running' };
    case 'job.progress':
      return { ...base(job, event.counts), status: 'running', file: outcomeData(event.file) };
    case 'job.completed':
      return { ...base(job, event.counts), status: 'succeeded' };
    case 'job.failed':
      return { ...base(job, event.counts), status: 'failed', failures: event.failures.map(outcomeData), failures_omitted: event.failuresOmitted };
    case 'job.cancelled':
      return { ...base(job, event.counts), status: 'cancelled' };
  }
}

/** A job's events as they will be published, to its subscribers and its own webhook_url. */
function jobEvents(job: Job, events: JobEvent[]): RoutedEvent[] {
  const routing: EventRouting = { kind: 'subscribers', tag: job.tag, webhookUrl: job.webhook_url, webhookEvents: job.webhook_events };
  return events.map((event) => ({
    event: {
      accountId: job.account_id,
      type: event.type,
      subjectId: job.id,
      dedupeKey: eventKey(job.id, event.type, event.type === 'job.progress' ? event.file.index : undefined),
      data: eventData(job, event),
    },
    routing,
  }));
}

/**
 * Stores a job's events with their deliveries, together; `db` may be the caller's
 * transaction. Each is stored once: `job.progress` once per file.
 */
export function storeJobEvents(db: Kysely<Database>, job: Job, events: JobEvent[], defaultRetrySchedule: number[]): Promise<PublishedEvent[]> {
  return publishRoutedEvents(db, jobEvents(job, events), defaultRetrySchedule);
}

/**
 * The `job.progress` of a file of the job that ended (`row`, its end recorded in `trx`),
 * to store in the same transaction, the file counted on the job in the same statement
 * that locks the job's row, so files of one job ending at once are counted in turn. Once
 * per file: a file whose progress is stored already is not counted again, and publishing
 * it again finds the stored event.
 */
export async function fileProgressEvent(trx: Kysely<Database>, jobId: string, row: Conversion): Promise<RoutedEvent[]> {
  const file = rowOutcome(row);
  if (!file) return [];
  // Counted running when a chunk first marked it so (its first counted try); one cancelled while queued never was.
  const counted = await countFileEnded(trx, jobId, eventKey(jobId, 'job.progress', file.index), file.status, row.attempts > 0);
  const job = counted ?? (await requireJob(trx, jobId));
  return jobEvents(job, [{ type: 'job.progress', file, counts: fileCounts(job) }]);
}

/** Stores a file's `job.progress` (see fileProgressEvent) in a transaction of its own: a file found already ended. */
export function storeFileProgress(db: Kysely<Database>, jobId: string, row: Conversion, defaultRetrySchedule: number[]): Promise<PublishedEvent[]> {
  return db.transaction().execute(async (trx) => publishRoutedEvents(trx, await fileProgressEvent(trx, jobId, row), defaultRetrySchedule));
}

/** What a file of a job that was cancelled before the file ended says. */
const JOB_CANCELLED = { code: 'cancelled', message: 'the job was cancelled' };

/** How a job ended, as its workflow (or the API, for a job that never started) records it. */
export interface JobEnd {
  status: 'succeeded' | 'failed' | 'cancelled';
  counts: JobCounts;
  failures: FileOutcome[];
  failuresOmitted: number;
}

/**
 * Ends a job with its final counts and event. A cancelled one first cancels its files that
 * never started, each with its `conversion.cancelled`. Safe to repeat: a job already ended
 * keeps its status and counts, every event is stored once, and a job that ended otherwise
 * gets no event of this end.
 */
export async function storeJobEnd(trx: Kysely<Database>, jobId: string, end: JobEnd, defaultRetrySchedule: number[]): Promise<PublishedEvent[]> {
  const { counts } = end;
  const published: PublishedEvent[] = [];
  if (end.status === 'cancelled') {
    const never = await endUnfinishedFiles(trx, jobId, 'cancelled', JOB_CANCELLED);
    published.push(...(await storeConversionEvents(trx, never, 'conversion.cancelled', defaultRetrySchedule)));
  }
  const finished = await finishJob(trx, jobId, end.status);
  const job = finished ?? (await requireJob(trx, jobId));
  if (job.status !== end.status) return published;
  if (finished) await storeJobCounts(trx, jobId, counts);
  const event: JobEvent =
    end.status === 'succeeded'
      ? { type: 'job.completed', counts }
      : end.status === 'failed'
        ? { type: 'job.failed', counts, failures: end.failures, failuresOmitted: end.failuresOmitted }
        : { type: 'job.cancelled', counts };
  published.push(...(await storeJobEvents(trx, job, [event], defaultRetrySchedule)));
  return published;
}

/**
 * Ends a job converted in chunks as its files' rows say: when cancelled, its files that did
 * not end are cancelled (each with its `conversion.cancelled`); otherwise any such file (a
 * chunk that could not go on) fails. Then the job ends `succeeded` when every file did,
 * `failed` otherwise, with counts taken from the rows and the first files that did not
 * succeed listed. Safe to repeat, as storeJobEnd is.
 */
export async function storeJobEndFromFiles(
  trx: Kysely<Database>,
  jobId: string,
  cancelled: boolean,
  defaultRetrySchedule: number[],
): Promise<{ end: JobEnd; published: PublishedEvent[] }> {
  // Before the counts are taken (storeJobEnd then finds none left to cancel).
  const left = cancelled
    ? await endUnfinishedFiles(trx, jobId, 'cancelled', JOB_CANCELLED)
    : await endUnfinishedFiles(trx, jobId, 'failed', { code: 'conversion_error', message: 'the job ended before this file was converted' });
  const published = await storeConversionEvents(trx, left, cancelled ? 'conversion.cancelled' : 'conversion.failed', defaultRetrySchedule);
  const counts = fileCounts(await recountJob(trx, jobId));
  const unsuccessful = await filesNotSucceeded(trx, jobId, FAILURES_LISTED);
  const end: JobEnd = {
    status: cancelled ? 'cancelled' : counts.failed + counts.cancelled > 0 ? 'failed' : 'succeeded',
    counts,
    failures: unsuccessful.map((row) => rowOutcome(row)!),
    failuresOmitted: Math.max(0, counts.failed + counts.cancelled - unsuccessful.length),
  };
  published.push(...(await storeJobEnd(trx, jobId, end, defaultRetrySchedule)));
  return { end, published };
}
