import type { Kysely } from 'kysely';
import { findConversionById } from '../src/db/conversions.js';
import { workflowInputFor } from '../src/conversions/workflow.js';
import { isJobFinished, markJobFileRunning, jobFiles, markJobRunning, requireJob, storeJobCounts } from '../src/db/jobs.js';
import type { Conversion, Database, JobStatus } from '../src/db/schema.js';
import type { PublishedEvent } from '../src/events/publish.js';
import { fileProgressEvent, rowOutcome, storeFileProgress, storeJobEnd, storeJobEndFromFiles, storeJobEvents, type JobEnd } from '../src/jobs/events.js';
import type { JobFileRecords } from './convert.js';
import { handOver, type DeliveryDispatch } from '../src/webhooks/dispatch.js';
import type { ConversionRunSettings, ConversionWorkflowInput } from '../workflows/definitions.js';
import type { FileOutcome, JobCounts } from '../src/model/job-counts.js';

export interface JobDependencies {
  db: Kysely<Database>;
  /** Takes charge of the deliveries of the events recorded here. */
  deliveries: DeliveryDispatch;
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
}

/** A file of a job, as the job's workflow needs it. */
export interface JobFile {
  index: number;
  conversionId: string;
  filename: string;
  /** Its conversion's workflow input while it is still to convert; null once it ended on its own (cancelled through the API). */
  input: ConversionWorkflowInput | null;
  /** How it ended, when it already has. */
  outcome: FileOutcome | null;
}

function fileOf(row: Conversion, run: ConversionRunSettings): JobFile {
  const base = { index: row.job_index!, conversionId: row.id, filename: row.input_filename };
  const outcome = rowOutcome(row);
  return outcome ? { ...base, input: null, outcome } : { ...base, input: workflowInputFor(row, run), outcome: null };
}

/** A job's files and their `job.progress`, as the convert activity's chunks read and record them. */
export function jobFileRecords({ db, deliveries, defaultRetrySchedule }: JobDependencies): JobFileRecords {
  return {
    files: (jobId, fromIndex, count) => jobFiles(db, jobId, fromIndex, count),
    markRunning: (jobId, conversionId) => (trx) => markJobFileRunning(trx, jobId, conversionId),
    progress: (jobId) => (trx, row) => fileProgressEvent(trx, jobId, row),
    statusOf: async (conversionId) => (await findConversionById(db, conversionId))?.status,
    async progressOf(jobId, row) {
      await handOver(deliveries, await storeFileProgress(db, jobId, row, defaultRetrySchedule));
    },
  };
}

/**
 * The job workflow's database writes, run as local activities, each with the events it
 * publishes. Each is idempotent (events are stored once, by key), so Temporal may retry it.
 */
export function createJobActivities({ db, deliveries, defaultRetrySchedule }: JobDependencies) {
  async function inTransaction(write: (trx: Kysely<Database>) => Promise<PublishedEvent[]>): Promise<void> {
    const published = await db.transaction().execute(write);
    await handOver(deliveries, published);
  }

  return {
    /**
     * Marks the job running and publishes `job.started`; answers the job's status, which is
     * not `running` when the job ended before its workflow began (cancelled through the API).
     */
    async jobStarted(jobId: string, counts: JobCounts): Promise<JobStatus> {
      let status: JobStatus = 'running';
      await inTransaction(async (trx) => {
        const job = (await markJobRunning(trx, jobId)) ?? (await requireJob(trx, jobId));
        status = job.status;
        if (isJobFinished(job.status)) return [];
        return storeJobEvents(trx, job, [{ type: 'job.started', counts }], defaultRetrySchedule);
      });
      return status;
    },

    /** The job's files from `fromIndex` on (`limit` of them at most), each with its conversion's workflow input. */
    async jobFiles(jobId: string, fromIndex: number, limit: number, run: ConversionRunSettings): Promise<JobFile[]> {
      return (await jobFiles(db, jobId, fromIndex, limit)).map((row) => fileOf(row, run));
    },

    /** Stores the job's counts and publishes one `job.progress` per file that ended. */
    async jobProgress(jobId: string, reports: Array<{ file: FileOutcome; counts: JobCounts }>): Promise<void> {
      const last = reports.at(-1);
      if (!last) return;
      await inTransaction(async (trx) => {
        const job = (await storeJobCounts(trx, jobId, last.counts)) ?? (await requireJob(trx, jobId));
        return storeJobEvents(
          trx,
          job,
          reports.map(({ file, counts }) => ({ type: 'job.progress', file, counts })),
          defaultRetrySchedule,
        );
      });
    },

    /** Ends a job converted in chunks as its files' rows say (see storeJobEndFromFiles); answers how. */
    async jobEnded(jobId: string, cancelled: boolean): Promise<Pick<JobEnd, 'status' | 'counts'>> {
      const { end, published } = await db.transaction().execute((trx) => storeJobEndFromFiles(trx, jobId, cancelled, defaultRetrySchedule));
      await handOver(deliveries, published);
      return { status: end.status, counts: end.counts };
    },

    /** Ends the job with its final counts and event (see storeJobEnd). */
    async jobFinished(jobId: string, end: JobEnd): Promise<void> {
      await inTransaction((trx) => storeJobEnd(trx, jobId, end, defaultRetrySchedule));
    },
  };
}

export type JobActivities = ReturnType<typeof createJobActivities>;
