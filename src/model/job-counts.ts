/** How a job counts its files: shared by its workflow, its events, the database and the API. */

/** Files that did not succeed (failed, or cancelled on their own) `job.failed` lists; the rest are counted. */
export const FAILURES_LISTED = 100;

/** A file of a job as it ended. */
export interface FileOutcome {
  conversionId: string;
  index: number;
  filename: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  error: { code: string; message: string } | null;
}

/** How many of a job's files stand where, as the job counts them. */
export interface JobCounts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** Finished files as a whole percentage of all files (100 only once every file has finished). */
export function percentDone(counts: JobCounts): number {
  const finished = counts.succeeded + counts.failed + counts.cancelled;
  return counts.total === 0 ? 100 : Math.floor((finished * 100) / counts.total);
}
