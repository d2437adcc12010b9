import type { CreatedRange } from './list-filters.js';
import { sql, type Kysely } from 'kysely';
import type { ConversionOptions } from '../model/conversion-options.js';
import { jobWorkflowId } from '../names.js';
import { markRunningUpdate, queuedConversionRow, requestWebhookColumns, type AcceptedUpload, type RequestWebhook } from './conversions.js';
import type { Conversion, Database, Job, JobStatus } from './schema.js';
import type { JobCounts } from '../model/job-counts.js';

const OPEN_STATUSES: JobStatus[] = ['queued', 'running'];
/** Rows one insert statement carries at most: a job of thousands of files is stored in a few. */
const INSERT_CHUNK = 500;

export function isJobFinished(status: JobStatus): boolean {
  return !OPEN_STATUSES.includes(status);
}

export interface AcceptedJob {
  id: string;
  accountId: string;
  /** The options every file shares. */
  options: ConversionOptions;
  concurrency: number;
  webhook: RequestWebhook;
  /** The files, in order, each already in the blob store; each becomes a queued conversion of the job. */
  files: Array<Omit<AcceptedUpload, 'accountId' | 'webhook'>>;
}

/** Stores a job and its files, as `queued`; answers the job and its conversions in file order. */
export async function insertQueuedJob(db: Kysely<Database>, job: AcceptedJob): Promise<{ job: Job; conversions: Conversion[] }> {
  const stored = await db
    .insertInto('jobs')
    .values({
      id: job.id,
      account_id: job.accountId,
      status: 'queued',
      workflow_id: jobWorkflowId(job.id),
      total: job.files.length,
      options: JSON.stringify(job.options),
      concurrency: job.concurrency,
      ...requestWebhookColumns(job.webhook),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const conversions: Conversion[] = [];
  for (let start = 0; start < job.files.length; start += INSERT_CHUNK) {
    const rows = job.files
      .slice(start, start + INSERT_CHUNK)
      .map((file, offset) => queuedConversionRow({ ...file, accountId: job.accountId, webhook: job.webhook }, { id: job.id, index: start + offset }));
    conversions.push(...(await db.insertInto('conversions').values(rows).returningAll().execute()));
  }
  conversions.sort((a, b) => a.job_index! - b.job_index!);
  return { job: stored, conversions };
}

/** A job as its owner sees it; another account's id finds nothing. */
export function findJob(db: Kysely<Database>, accountId: string, id: string): Promise<Job | undefined> {
  return db.selectFrom('jobs').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export function findJobById(db: Kysely<Database>, id: string): Promise<Job | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A job its workflow works on: one that must exist. */
export async function requireJob(db: Kysely<Database>, id: string): Promise<Job> {
  const job = await findJobById(db, id);
  if (!job) throw new Error(`no job ${id}`);
  return job;
}

export function listJobs(
  db: Kysely<Database>,
  accountId: string,
  page: { limit: number; after?: string },
  filter: CreatedRange & { status?: JobStatus } = {},
): Promise<Job[]> {
  let query = db.selectFrom('jobs').selectAll().where('account_id', '=', accountId);
  if (page.after) query = query.where('id', '<', page.after);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.createdAfter) query = query.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) query = query.where('created_at', '<', filter.createdBefore);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** The job's counts as its workflow last stored them. */
export function fileCounts(job: Job): JobCounts {
  const started = job.files_running + job.files_succeeded + job.files_failed + job.files_cancelled;
  return {
    total: job.total,
    queued: Math.max(0, job.total - started),
    running: job.files_running,
    succeeded: job.files_succeeded,
    failed: job.files_failed,
    cancelled: job.files_cancelled,
  };
}

/** Stores the job's counts as its workflow last saw them. */
export async function storeJobCounts(db: Kysely<Database>, id: string, counts: Omit<JobCounts, 'total' | 'queued'>): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set({
      files_running: counts.running,
      files_succeeded: counts.succeeded,
      files_failed: counts.failed,
      files_cancelled: counts.cancelled,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Stores the job's counts as its files' rows say now (at its end), and answers the job. The
 * job's row is locked first, so the count is taken after any file's end being counted
 * (countFileEnded, which locks it too) has committed.
 */
export async function recountJob(db: Kysely<Database>, jobId: string): Promise<Job> {
  await db.selectFrom('jobs').select('id').where('id', '=', jobId).forUpdate().executeTakeFirstOrThrow();
  const { rows } = await sql<Job>`
    update jobs set
      (files_running, files_succeeded, files_failed, files_cancelled) = (
        select count(*) filter (where status = 'running'), count(*) filter (where status = 'succeeded'),
               count(*) filter (where status = 'failed'), count(*) filter (where status = 'cancelled')
        from conversions where job_id = ${jobId}),
      updated_at = now()
    where id = ${jobId}
    returning *`.execute(db);
  return rows[0]!;
}

/**
 * Marks a job's file running and counts this try on its row (see markRunning); its first
 * counted try also counts the file running on the job, in the same statement.
 */
export function markJobFileRunning(db: Kysely<Database>, jobId: string, conversionId: string): Promise<Conversion | undefined> {
  return db
    .with('file', (qb) => markRunningUpdate(qb, conversionId, true))
    .with('counted', (qb) =>
      qb
        .updateTable('jobs')
        .set((eb) => ({ files_running: eb('files_running', '+', 1), updated_at: sql`now()` }))
        .where('id', '=', jobId)
        .where((eb) => eb.exists(eb.selectFrom('file').select('file.id').where('file.attempts', '=', 1))),
    )
    .selectFrom('file')
    .selectAll()
    .executeTakeFirst();
}

/**
 * Counts a file of the job that ended (`wasRunning` when it had been counted started),
 * unless the event `progressKey` that reports it is stored already (it was counted then);
 * answers the job when this call counted it.
 */
export function countFileEnded(
  db: Kysely<Database>,
  jobId: string,
  progressKey: string,
  status: 'succeeded' | 'failed' | 'cancelled',
  wasRunning: boolean,
): Promise<Job | undefined> {
  const column = status === 'succeeded' ? 'files_succeeded' : status === 'failed' ? 'files_failed' : 'files_cancelled';
  return db
    .updateTable('jobs')
    .set((eb) => ({
      [column]: eb(column, '+', 1),
      ...(wasRunning ? { files_running: eb('files_running', '-', 1) } : {}),
      updated_at: sql`now()`,
    }))
    .where('id', '=', jobId)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('events').select('id').where('dedupe_key', '=', progressKey))))
    .returningAll()
    .executeTakeFirst();
}

/** The job's files from `fromIndex` on, in order (`limit` of them at most). */
export function jobFiles(db: Kysely<Database>, jobId: string, fromIndex: number, limit: number): Promise<Conversion[]> {
  return db.selectFrom('conversions').selectAll().where('job_id', '=', jobId).where('job_index', '>=', fromIndex).orderBy('job_index').limit(limit).execute();
}

/** Marks a queued job running. Answers the row when this call changed it. */
export function markJobRunning(db: Kysely<Database>, id: string): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set({ status: 'running', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .returningAll()
    .executeTakeFirst();
}

/** Ends an open job. Answers the row when this call ended it. */
export function finishJob(db: Kysely<Database>, id: string, status: Exclude<JobStatus, 'queued' | 'running'>): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set({ status, updated_at: sql`now()`, completed_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', OPEN_STATUSES)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Ends the job's files that have not ended, as `status` with `error`: when the job ends, a
 * file still queued never started, and one still running lost its converter (nothing works
 * on a job's files by then). Answers the rows this call ended.
 */
export function endUnfinishedFiles(
  db: Kysely<Database>,
  jobId: string,
  status: 'cancelled' | 'failed',
  error: { code: string; message: string },
): Promise<Conversion[]> {
  return db
    .updateTable('conversions')
    .set({ status, error_code: error.code, error_message: error.message, updated_at: sql`now()`, completed_at: sql`now()` })
    .where('job_id', '=', jobId)
    .where('status', 'in', ['queued', 'running'])
    .returningAll()
    .execute();
}

/** The job's first `limit` files that ended without succeeding, in order. */
export function filesNotSucceeded(db: Kysely<Database>, jobId: string, limit: number): Promise<Conversion[]> {
  return db
    .selectFrom('conversions')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('status', 'in', ['failed', 'cancelled'])
    .orderBy('job_index')
    .limit(limit)
    .execute();
}

/** Jobs accepted but still queued after `olderThanSeconds`: their workflow may never have been started. */
export function listStaleQueuedJobs(db: Kysely<Database>, olderThanSeconds: number, limit: number): Promise<Job[]> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('status', '=', 'queued')
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** A job's files as its owner pages through them, in the job's order; `after` is the last conversion id of the previous page. */
export function listJobConversions(
  db: Kysely<Database>,
  jobId: string,
  page: { limit: number; after?: string; status?: Conversion['status'] },
): Promise<Conversion[]> {
  let query = db.selectFrom('conversions').selectAll().where('job_id', '=', jobId);
  if (page.after) {
    const after = page.after;
    query = query.where('job_index', '>', (eb) => eb.selectFrom('conversions').select('job_index').where('id', '=', after).where('job_id', '=', jobId));
  }
  if (page.status) query = query.where('status', '=', page.status);
  return query.orderBy('job_index').limit(page.limit).execute();
}

/** What the archive of a job holds: its succeeded files' outputs, in the job's order. */
export function jobOutputs(db: Kysely<Database>, jobId: string) {
  return db
    .selectFrom('conversions')
    .select(['id', 'job_index', 'output_key', 'output_filename', 'output_bytes', 'output_purged_at'])
    .where('job_id', '=', jobId)
    .where('status', '=', 'succeeded')
    .orderBy('job_index')
    .execute();
}
