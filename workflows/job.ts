import {
  type ActivityOptions,
  ActivityCancellationType,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  TerminatedFailure,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { JobActivities, JobFile } from '../activities/job.js';
import type { ConvertActivities } from '../activities/convert.js';
import { conversionWorkflowId, TASK_QUEUES } from '../src/names.js';
import { conversionStartAttributes, SEARCH_ATTRIBUTES } from '../src/search-attributes.js';
import { conversionWorkflow } from './conversion.js';
import {
  BOOKKEEPING_ACTIVITY_OPTIONS,
  cancelJobUpdate,
  CANCEL_REFUSED,
  cancelSignal,
  jobProgressQuery,
  type JobPhase,
  type JobProgress,
  type JobSnapshot,
  type JobWorkflowInput,
} from './definitions.js';
import { FAILURES_LISTED, percentDone, type FileOutcome, type JobCounts } from '../src/model/job-counts.js';

const record = proxyLocalActivities<JobActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** Files one run starts before it continues as new, unless told: its history stays far inside Temporal's limits. */
const FILES_PER_RUN = 500;
/** The same for a job converted in chunks: a chunk of files costs its run a handful of history events. */
const CHUNKED_FILES_PER_RUN = 10_000;
/** Files one convert activity takes at most; fewer as the job's end nears, so its last chunks end together. */
const CHUNK_FILES = 25;
/** Tries a file of a chunk gets before it ends failed (a single upload's retry policy gives it as many). */
const MAX_FILE_ATTEMPTS = 5;
/** Seconds of work after which a chunk takes no further file: the slot it holds goes back to the queue's turn. */
const CHUNK_SECONDS = 2;
/** Files read from the database at a time. */
const PAGE = 100;
/** How long a job cancelled by the `cancel` update waits for the API's cancellation request, to end Canceled. */
const CANCEL_REQUEST_WAIT = '30 seconds';

/** How a file's conversion ended, from its child run's result or failure. */
function outcomeOf(file: JobFile, result: unknown): FileOutcome {
  const base = { conversionId: file.conversionId, index: file.index, filename: file.filename };
  if (result instanceof Error) {
    const cause = result instanceof ChildWorkflowFailure ? result.cause : result;
    if (isCancellation(cause) || isCancellation(result))
      return { ...base, status: 'cancelled', error: { code: 'cancelled', message: 'the conversion was cancelled' } };
    // A file cancelled through the API just before the job started it (see convertImage).
    if (cause instanceof ApplicationFailure && cause.type === 'cancelled')
      return { ...base, status: 'cancelled', error: { code: 'cancelled', message: cause.message } };
    if (cause instanceof ApplicationFailure) return { ...base, status: 'failed', error: { code: cause.type ?? 'conversion_error', message: cause.message } };
    if (cause instanceof TerminatedFailure) return { ...base, status: 'failed', error: { code: 'terminated', message: 'the conversion was terminated' } };
    if (cause instanceof TimeoutFailure) return { ...base, status: 'failed', error: { code: 'timeout', message: 'the conversion did not finish in time' } };
    return { ...base, status: 'failed', error: { code: 'conversion_error', message: cause?.message ?? 'the conversion failed' } };
  }
  const ended = result as { status: string; error?: { code: string; message: string } };
  if (ended.status === 'succeeded') return { ...base, status: 'succeeded', error: null };
  if (ended.status === 'cancelled') return { ...base, status: 'cancelled', error: { code: 'cancelled', message: 'the conversion was cancelled' } };
  return { ...base, status: 'failed', error: ended.error ?? { code: 'conversion_error', message: 'the conversion failed' } };
}

/**
 * Converts a job's files: one child conversion workflow per file (each the same
 * `conversion-<id>` run a single upload gets, with its own events), at most `concurrency`
 * at once, starting the next as each ends. After each file it publishes `job.progress`;
 * at the end `job.completed`, `job.failed` (with the failed files) or `job.cancelled`.
 * Every `filesPerRun` files (500) it lets the files under way finish and continues as new,
 * carrying its progress, so a job of any size stays within Temporal's history limits and
 * no file is started twice or skipped.
 *
 * Signal `cancel` (or a cancellation request): files not started never start, those under
 * way are cancelled, finished ones stay; the run ends Canceled on a request, and completes
 * on the signal. Query `progress`.
 */
export async function jobWorkflow(input: JobWorkflowInput): Promise<JobSnapshot> {
  const progress: JobProgress = input.carried ?? {
    next: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    failures: [],
    failuresOmitted: 0,
    cancelRequested: false,
  };
  // A job converts its files in chunks, each one convert activity, rather than one child run per file
  // (runs started before that go on with children).
  const chunked = patched('job-chunks');
  const filesPerRun = input.filesPerRun ?? (chunked ? CHUNKED_FILES_PER_RUN : FILES_PER_RUN);
  /** Files under way: each child's, or every file of each chunk under way. */
  let running = 0;
  let chunksRunning = 0;
  let chunkEnded = false;
  let phase: JobPhase = 'running';
  const counts = (): JobCounts => ({
    total: input.total,
    queued: input.total - progress.next,
    running,
    succeeded: progress.succeeded,
    failed: progress.failed,
    cancelled: progress.cancelled,
  });
  /** The counts the job ended with, as its files' rows said (a job converted in chunks). */
  let endCounts: JobCounts | undefined;
  const snapshot = (): JobSnapshot => {
    const now = endCounts ?? counts();
    return { status: phase, counts: now, progress: percentDone(now) };
  };

  // Children run in their own scope: cancelling it cancels every file under way, and nothing else.
  const files = new CancellationScope();
  const requestCancel = (): void => {
    if (progress.cancelRequested) return;
    progress.cancelRequested = true;
    files.cancel();
  };
  setHandler(cancelSignal, requestCancel);
  setHandler(jobProgressQuery, snapshot);
  // Cancelling by the `cancel` update, whose answer the API gives (runs started before it take the cancel request alone).
  const cancelByUpdate = patched('cancel-by-update');
  /** Set once the job has decided how it ends: a cancel asked after that is refused. */
  let decided = false;
  let cancelledByUpdate = false;
  if (cancelByUpdate) {
    setHandler(
      cancelJobUpdate,
      () => {
        cancelledByUpdate = true;
        requestCancel();
        return 'cancelled' as const;
      },
      {
        validator: () => {
          if (decided || phase !== 'running') throw ApplicationFailure.create({ type: CANCEL_REFUSED, message: `the job already ended as ${phase}` });
        },
      },
    );
  }

  if (!input.carried) {
    // Not cancellable: a cancellation request this early must still end the job through the path below.
    const status = await CancellationScope.nonCancellable(() => record.jobStarted(input.jobId, counts()));
    if (status !== 'running') {
      // Ended before this run began (cancelled through the API before its workflow started): nothing to do.
      phase = status;
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status }]);
      return snapshot();
    }
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: 'running' }]);
  }

  const ended: FileOutcome[] = [];
  const convert = (file: JobFile): void => {
    running++;
    void files
      .run(() =>
        executeChild(conversionWorkflow, {
          workflowId: conversionWorkflowId(file.conversionId),
          taskQueue: TASK_QUEUES.workflows,
          args: [file.input!],
          typedSearchAttributes: conversionStartAttributes(input.accountId, file.conversionId, file.input!.options.output_format, input.jobId),
        }),
      )
      .then(
        (result) => outcomeOf(file, result),
        (error: unknown) => outcomeOf(file, error),
      )
      .then((outcome) => {
        running--;
        ended.push(outcome);
      });
  };

  const chunkOptions: ActivityOptions = {
    taskQueue: TASK_QUEUES.convertJobs,
    // Each file has its own limit (the converter stops it); this only catches a worker that hung.
    startToCloseTimeout: `${CHUNK_FILES * (2 * input.run.timeLimitSeconds + 30)} seconds`,
    heartbeatTimeout: `${input.run.heartbeatTimeoutSeconds} seconds`,
    // Without a limit: each file's tries are counted on its row, and a chunk retried goes on where it stopped.
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
    // The chunk's file under way is recorded cancelled before the job ends.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
  const { convertJobFiles } = proxyActivities<ConvertActivities>(chunkOptions);
  /** Files a chunk left when its time was up, to schedule before any new file. */
  const leftOver: Array<{ fromIndex: number; count: number }> = [];
  const convertChunk = (fromIndex: number, count: number): void => {
    running += count;
    chunksRunning++;
    void files
      .run(() =>
        // The Web UI shows which files each chunk was given (by job_index, as the API lists them).
        convertJobFiles.executeWithOptions({ ...chunkOptions, summary: `job_index ${fromIndex}–${fromIndex + count - 1} of ${input.total} files` }, [
          {
            jobId: input.jobId,
            fromIndex,
            count,
            run: input.run,
            maxFileAttempts: MAX_FILE_ATTEMPTS,
            maxSeconds: input.chunkSeconds ?? CHUNK_SECONDS,
          },
        ]),
      )
      .then(
        (result) => {
          progress.succeeded += result.succeeded;
          for (const other of result.others) progress[other.status]++;
          if (result.done < count) leftOver.push({ fromIndex: fromIndex + result.done, count: count - result.done });
        },
        // A cancelled chunk: its files that did not end, end with the job (see jobEnded).
        () => undefined,
      )
      .then(() => {
        running -= count;
        chunksRunning--;
        chunkEnded = true;
      });
  };

  let page: JobFile[] = [];
  let pageStart = 0;
  let startedThisRun = 0;
  let requested: Error | undefined;
  try {
    for (;;) {
      while (!progress.cancelRequested && chunked && chunksRunning < input.concurrency && leftOver.length > 0) {
        const { fromIndex, count } = leftOver.shift()!;
        convertChunk(fromIndex, count);
      }
      while (
        !progress.cancelRequested &&
        (chunked ? chunksRunning : running) < input.concurrency &&
        progress.next < input.total &&
        startedThisRun < filesPerRun &&
        !workflowInfo().continueAsNewSuggested
      ) {
        if (chunked) {
          const left = Math.min(input.total - progress.next, filesPerRun - startedThisRun);
          const count = Math.max(1, Math.min(CHUNK_FILES, Math.ceil(left / (4 * input.concurrency))));
          convertChunk(progress.next, count);
          progress.next += count;
          startedThisRun += count;
          continue;
        }
        const index = progress.next;
        if (index >= pageStart + page.length) {
          page = await record.jobFiles(input.jobId, index, PAGE, input.run);
          pageStart = index;
        }
        const file = page[index - pageStart]!;
        progress.next++;
        startedThisRun++;
        // A file cancelled on its own before the job reached it has already ended.
        if (file.outcome) ended.push(file.outcome);
        else convert(file);
      }
      if (ended.length > 0) await report(ended.splice(0));
      // A run hands over after filesPerRun files, or sooner when Temporal suggests it (a history grown large).
      const handOver = startedThisRun >= filesPerRun || workflowInfo().continueAsNewSuggested;
      const startedAll = progress.next >= input.total || progress.cancelRequested || handOver;
      // Files a chunk left are below progress.next: a run hands over only once none is left.
      if (startedAll && running === 0 && (leftOver.length === 0 || progress.cancelRequested)) break;
      chunkEnded = false;
      await condition(() => ended.length > 0 || chunkEnded || (progress.cancelRequested && running === 0));
    }
  } catch (error) {
    // A cancellation request (the API's, the Web UI's): the same as the signal, then the run ends Canceled.
    if (!isCancellation(error)) throw error;
    requested = error as Error;
    requestCancel();
    await CancellationScope.nonCancellable(async () => {
      await condition(() => running === 0);
      if (ended.length > 0) await report(ended.splice(0));
    });
  }

  if (!progress.cancelRequested && progress.next < input.total) {
    // Every file this run started has ended: the next run takes over from progress.next.
    return continueAsNew<typeof jobWorkflow>({ ...input, carried: progress });
  }

  decided = true;
  if (chunked) {
    // The files' rows say how the job ended: the files that failed, the counts, which a chunk cancelled mid-way never reported.
    const end = await CancellationScope.nonCancellable(() => record.jobEnded(input.jobId, progress.cancelRequested));
    phase = end.status;
    endCounts = end.counts;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: phase }]);
    return ending();
  }
  const final = counts();
  if (progress.cancelRequested) {
    // Files the job never started never will.
    final.cancelled += final.queued;
    progress.cancelled = final.cancelled;
    final.queued = 0;
  }
  // A file cancelled on its own (through the conversions API) did not succeed either: the job did not do all its work.
  phase = progress.cancelRequested ? 'cancelled' : progress.failed + progress.cancelled > 0 ? 'failed' : 'succeeded';
  await CancellationScope.nonCancellable(() =>
    record.jobFinished(input.jobId, {
      status: phase,
      counts: final,
      failures: [...progress.failures].sort((a, b) => a.index - b.index),
      failuresOmitted: progress.failuresOmitted,
    }),
  );
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: phase }]);
  return ending();

  /** Ends the run as the job was asked to end: Canceled on a cancellation request. */
  async function ending(): Promise<JobSnapshot> {
    if (requested !== undefined) throw requested;
    if (cancelByUpdate) await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    // Cancelled by the update: the API requests the run's cancellation next, which ends it Canceled.
    if (cancelledByUpdate) await CancellationScope.cancellable(() => sleep(CANCEL_REQUEST_WAIT));
    return snapshot();
  }

  /** Counts the files that ended and publishes a `job.progress` for each. */
  async function report(outcomes: FileOutcome[]): Promise<void> {
    const reports = outcomes.map((file) => {
      progress[file.status]++;
      if (file.status !== 'succeeded' && !progress.cancelRequested) {
        if (progress.failures.length < FAILURES_LISTED) progress.failures.push(file);
        else progress.failuresOmitted++;
      }
      return { file, counts: counts() };
    });
    await CancellationScope.nonCancellable(() => record.jobProgress(input.jobId, reports));
  }
}
