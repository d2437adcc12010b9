import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConversionAbortedError, type Converter } from '../src/convert/converter-pool.js';
import { ConversionInputError } from '../src/convert/pipeline.js';
import { allOutputKeys } from '../src/storage/keys.js';
import { StorageFullError, StorageUnavailableError, type BlobStore } from '../src/storage/blob-store.js';
import type { Conversion, ConversionStatus } from '../src/db/schema.js';
import { conversionDuration, conversionsInProgress, storageWaits } from '../src/process-metrics.js';
import type { ConversionRecorder, EndFollowUp, MarkRunning } from './record.js';
import type { FetchSourceInput } from './source.js';
import type { ConvertInput, ConvertResult, JobChunkInput, JobChunkResult } from '../workflows/definitions.js';
import { workflowInputFor } from '../src/conversions/workflow.js';
import type { FileOutcome } from '../src/model/job-counts.js';
import { rowOutcome } from '../src/jobs/events.js';

/** How often a job's file under way is looked up, to stop its converter once it was cancelled on its own. */
const ROW_WATCH_MS = 1000;

/** A job's files as its chunks read and report them. */
export interface JobFileRecords {
  /** The job's files from `fromIndex` on, in order (`count` of them at most). */
  files(jobId: string, fromIndex: number, count: number): Promise<Conversion[]>;
  /** Marks a file of the job running, counting its try (and, on its first, the file on the job). */
  markRunning: (jobId: string, conversionId: string) => MarkRunning;
  /** Stores the job's progress for a file that ended, in the transaction that recorded its end. */
  progress: (jobId: string) => EndFollowUp;
  /** The same for a file found already ended (by an earlier try, or cancelled on its own), in a transaction of its own. */
  progressOf(jobId: string, row: Conversion): Promise<void>;
  /** A file's status as its row says now (undefined when there is no such row). */
  statusOf(conversionId: string): Promise<ConversionStatus | undefined>;
}

export interface ConvertDependencies {
  blobs: BlobStore;
  converter: Converter;
  /** Fetches the original of a job's file made from a URL (the source activity's work, see activities/source.ts). */
  fetchSource: (input: FetchSourceInput) => Promise<{ bytes: number }>;
  record: Pick<ConversionRecorder, 'started' | 'succeeded' | 'failed' | 'cancelled'>;
  jobs: JobFileRecords;
  /** The blob keys of the watermark assets `ids` that belong to the conversion's own account (others are not found). */
  watermarkKeys: (conversionId: string, ids: string[]) => Promise<Map<string, string>>;
}

/** The result a finished conversion recorded, for an attempt that finds it already done. */
function recordedResult(row: Conversion): ConvertResult | undefined {
  const { input_format, input_width, input_height, output_key, output_format, output_width, output_height, output_bytes, output_frames } = row;
  if (row.status !== 'succeeded' || input_format === null || input_width === null || input_height === null) return undefined;
  if (output_key === null || output_format === null || output_width === null || output_height === null || output_bytes === null) return undefined;
  return {
    input: {
      format: input_format,
      width: input_width,
      height: input_height,
      bytes: row.input_bytes,
      ...(row.input_pages !== null ? { pages: row.input_pages } : {}),
    },
    output: {
      key: output_key,
      format: output_format,
      width: output_width,
      height: output_height,
      bytes: output_bytes,
      ...(output_frames ? { frames: output_frames } : {}),
    },
    attempt: row.attempts,
    recorded: true,
  };
}

/** Longest wait between tries while the blob store is away. */
const STORAGE_RETRY_MAX_MS = 15_000;

/** How long before Temporal would time an attempt out it ends itself, so its failure says why. */
const ATTEMPT_END_MARGIN_MS = 10_000;

/**
 * Runs `work` again, after a growing wait, each time it fails because the blob store is away
 * or full (StorageUnavailableError, StorageFullError), until it succeeds, fails otherwise,
 * or the activity is cancelled. A store outage thus waits in the attempt, heartbeating,
 * instead of spending the retry policy's attempts, which are for failures of the work
 * itself. Shortly before Temporal would time the attempt out, it fails retryably as
 * `storage_unavailable` or `storage_full`, so that a conversion whose every attempt found
 * the store away ends with that code rather than `timeout`.
 */
async function whileStorageIsAway<T>(context: Context, work: () => Promise<T>): Promise<T> {
  const endBy = Date.now() + context.info.startToCloseTimeoutMs - ATTEMPT_END_MARGIN_MS;
  for (let waitMs = 1000; ; waitMs = Math.min(2 * waitMs, STORAGE_RETRY_MAX_MS)) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof StorageUnavailableError)) throw error;
      const full = error instanceof StorageFullError;
      if (Date.now() + waitMs > endBy) {
        throw ApplicationFailure.retryable(error.message, full ? 'storage_full' : 'storage_unavailable');
      }
      storageWaits.inc({ reason: full ? 'full' : 'away' });
      context.log.warn(full ? 'blob storage is full; the conversion waits for space' : 'blob storage is away; the conversion waits for it', {
        error: error.message,
        retryInMs: waitMs,
      });
      await context.sleep(waitMs);
    }
  }
}

/** Runs `work` counted in kiln_conversions_in_progress, and times it into kiln_conversion_duration_seconds by outcome. */
async function measured<T>(format: string, work: () => Promise<T>): Promise<T> {
  const timer = conversionDuration.startTimer({ format });
  conversionsInProgress.inc();
  let outcome = 'succeeded';
  try {
    return await work();
  } catch (error) {
    outcome = error instanceof ConversionInputError ? 'refused' : error instanceof ConversionAbortedError ? 'cancelled' : 'failed';
    throw error;
  } finally {
    conversionsInProgress.dec();
    timer({ outcome });
  }
}

export function createConvertActivities({ blobs, converter, fetchSource, record, jobs, watermarkKeys }: ConvertDependencies) {
  /** Has a converter make the file's outputs under their fixed keys; answers what it made. */
  async function convertFile(context: Context, input: Omit<ConvertInput, 'record'>, signal = context.cancellationSignal): Promise<ConvertResult> {
    const keys = allOutputKeys(input.outputKey, input.options.outputs);
    const marks = [...new Set((input.options.outputs ?? [input.options]).flatMap((output) => (output.watermark ? [output.watermark] : [])))];
    const job = {
      blobs: blobs.location,
      inputKey: input.inputKey,
      outputKey: input.outputKey,
      renditionKeys: keys.slice(1),
      watermarkKeys: Object.fromEntries(await watermarkKeys(input.conversionId, marks)),
    };
    const converted = await measured(input.options.output_format, () =>
      whileStorageIsAway(context, () =>
        converter.convert(job, input.options, {
          signal,
          timeLimitMs: input.timeLimitSeconds * 1000,
          fairnessKey: context.info.priority?.fairnessKey,
        }),
      ),
    );
    const result: ConvertResult = {
      input: converted.input,
      output: { key: input.outputKey, ...converted.output },
      ...(converted.renditions ? { renditions: converted.renditions.map((facts, index) => ({ key: keys[index]!, ...facts })) } : {}),
      attempt: context.info.attempt,
    };
    return result;
  }

  return {
    /**
     * Has a converter process read the original from the blob store, convert it and write
     * the output under a key fixed by the workflow (so a retry overwrites rather than
     * duplicates); no file's bytes pass through this process. With `record`,
     * it also records the conversion running when the work begins and succeeded once the
     * output is stored, each with its event, so the workflow needs no step of its own for
     * either (an attempt that finds the conversion already succeeded answers what was
     * recorded). Bad input is a non-retryable failure whose type is Kiln's stable error
     * code. A cancel stops the image work itself: the converter process is killed.
     */
    async convertImage(input: ConvertInput): Promise<ConvertResult> {
      const context = Context.current();
      // sharp gives no progress callbacks; a steady heartbeat tells Temporal this worker is
      // alive, and its answer is how a cancel reaches this activity.
      const heartbeat = setInterval(() => context.heartbeat(), 1000);
      try {
        if (input.record) {
          const row = await record.started(input.conversionId);
          const done = row && recordedResult(row);
          if (done) return done;
          // Cancelled through the API while queued, just as its job reached it: nothing to convert.
          if (row?.status === 'cancelled') {
            throw ApplicationFailure.create({ type: 'cancelled', message: 'the conversion was cancelled before it started', nonRetryable: true });
          }
        }
        const result = await convertFile(context, input);
        if (!input.record) return result;
        const ended = await record.succeeded(input.conversionId, input.record.outputFilename, result);
        return { ...result, recorded: true, ended };
      } catch (error) {
        if (error instanceof ConversionInputError) {
          throw ApplicationFailure.create({ type: error.code, message: error.message, nonRetryable: true });
        }
        if (error instanceof ConversionAbortedError) throw context.cancellationSignal.reason ?? error;
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
    },

    /**
     * Converts a group of a job's files in turn, each as convertImage does with `record`
     * (its conversion.started and conversion.completed or .failed), and publishes each file's
     * `job.progress` in the transaction that records its end. The database is where a chunk
     * stands: an attempt after a crash (or a retry) skips files that ended and publishes
     * what they owe (once, by key), and goes on from the first that has not. A file's tries
     * are counted on its row; an error that is not the file's fault (a converter that died,
     * storage away) fails the attempt, so Temporal retries the chunk after its backoff, until
     * the file has had `maxFileAttempts` tries and ends failed. A cancel kills the file under
     * way, records it cancelled, and leaves the rest of the chunk to the job's end. Past
     * `maxSeconds` it takes no further file and answers how many it took, so a chunk of
     * large files holds its slot (which another account's chunk may be waiting for) about
     * as long as a single file would.
     */
    async convertJobFiles(input: JobChunkInput): Promise<JobChunkResult> {
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(), 1000);
      const result: JobChunkResult = { done: 0, succeeded: 0, others: [] };
      const endBy = Date.now() + input.maxSeconds * 1000;
      try {
        for (const row of await jobs.files(input.jobId, input.fromIndex, input.count)) {
          if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
          // Past its time it gives its slot back, having taken one file at least.
          if (result.done > 0 && Date.now() >= endBy) break;
          const outcome = await convertJobFile(context, row, input);
          result.done++;
          if (outcome.status === 'succeeded') result.succeeded++;
          else result.others.push(outcome);
        }
        return result;
      } finally {
        clearInterval(heartbeat);
      }
    },
  };

  /** One file of a chunk, to its end (see convertJobFiles); answers how it ended. */
  async function convertJobFile(context: Context, queued: Conversion, chunk: JobChunkInput): Promise<FileOutcome> {
    const endedBefore = async (row: Conversion): Promise<FileOutcome> => {
      await jobs.progressOf(chunk.jobId, row);
      return rowOutcome(row)!;
    };
    if (rowOutcome(queued)) return endedBefore(queued);
    const row = await record.started(queued.id, jobs.markRunning(chunk.jobId, queued.id));
    if (!row || rowOutcome(row)) return endedBefore(row ?? queued);
    // How the file ended, as the transaction that recorded its end (with its progress) left the row.
    let outcome: FileOutcome | undefined;
    const storeProgress = jobs.progress(chunk.jobId);
    const progress: EndFollowUp = (trx, ended) => ((outcome = rowOutcome(ended)), storeProgress(trx, ended));
    const file = workflowInputFor(row, chunk.run);
    const failed = async (error: { code: string; message: string }): Promise<FileOutcome> => {
      await record.failed(row.id, error, progress);
      return outcome!;
    };
    // A try whose worker died (it never reported) counts too: a file that kills its worker ends failed.
    if (row.attempts > chunk.maxFileAttempts) {
      return failed({ code: 'conversion_error', message: `the conversion was lost on each of its ${chunk.maxFileAttempts} tries` });
    }
    const keys = allOutputKeys(file.outputKey, file.options.outputs);
    // The file has no run of its own to hear a cancel of it alone (the API claims its row): the
    // row is watched while it converts, and its converter is stopped once the row says cancelled.
    const cancelledOnItsOwn = new AbortController();
    const watch = setInterval(() => {
      void jobs.statusOf(row.id).then(
        (status) => status === 'cancelled' && cancelledOnItsOwn.abort(),
        () => undefined,
      );
    }, ROW_WATCH_MS);
    try {
      // A file made from a URL: its original is fetched first (file.uploaded), a try of the file like its conversion.
      if (row.source_url) await fetchSource({ conversionId: row.id, sourceUrl: row.source_url, inputKey: row.input_key });
      const converted = await convertFile(
        context,
        { conversionId: row.id, inputKey: file.inputKey, outputKey: file.outputKey, options: file.options, timeLimitSeconds: chunk.run.timeLimitSeconds },
        AbortSignal.any([context.cancellationSignal, cancelledOnItsOwn.signal]),
      );
      await record.succeeded(row.id, file.outputFilename, { ...converted, attempt: row.attempts }, progress);
      return outcome!;
    } catch (error) {
      if (error instanceof ConversionInputError) return failed({ code: error.code, message: error.message });
      // A source that answered for good (a 404, not an image): the file's own failure.
      if (error instanceof ApplicationFailure && error.nonRetryable) return failed({ code: error.type ?? 'conversion_error', message: error.message });
      if (error instanceof ConversionAbortedError && cancelledOnItsOwn.signal.aborted && !context.cancellationSignal.aborted) {
        // Its cancellation is recorded: this deletes what the converter wrote, and reports the file to its job.
        await record.cancelled(row.id, keys, progress);
        return outcome!;
      }
      if (error instanceof ConversionAbortedError || context.cancellationSignal.aborted) {
        // Stopped for another reason (its worker stopping, the attempt timed out): the chunk's next attempt takes the file again.
        if (!context.cancellationDetails?.cancelRequested) throw context.cancellationSignal.reason ?? error;
        // Cancelled by its job: the file ends cancelled, and keeps no output.
        await record.cancelled(row.id, keys, progress);
        throw context.cancellationSignal.reason ?? error;
      }
      if (row.attempts < chunk.maxFileAttempts) throw error;
      const code = error instanceof ApplicationFailure && error.type ? error.type : 'conversion_error';
      return failed({ code, message: error instanceof Error ? error.message : 'the conversion failed' });
    } finally {
      clearInterval(watch);
    }
  }
}

export type ConvertActivities = ReturnType<typeof createConvertActivities>;
