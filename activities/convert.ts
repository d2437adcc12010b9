import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConversionAbortedError, type Converter } from '../src/convert/converter-pool.js';
import { ConversionInputError } from '../src/convert/pipeline.js';
import { renditionKey } from '../src/storage/keys.js';
import { StorageFullError, StorageUnavailableError, type BlobStore } from '../src/storage/blob-store.js';
import type { Conversion } from '../src/db/schema.js';
import { conversionDuration, conversionsInProgress, storageWaits } from '../src/process-metrics.js';
import type { ConversionRecorder } from './record.js';
import type { ConvertInput, ConvertResult } from '../workflows/definitions.js';

export interface ConvertDependencies {
  blobs: BlobStore;
  converter: Converter;
  record: Pick<ConversionRecorder, 'started' | 'succeeded'>;
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

export function createConvertActivities({ blobs, converter, record, watermarkKeys }: ConvertDependencies) {
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
        const keys = [
          input.outputKey,
          ...(input.options.outputs ?? []).slice(1).map((output, i) => renditionKey(input.outputKey, i + 1, output.output_format)),
        ];
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
              signal: context.cancellationSignal,
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
  };
}

export type ConvertActivities = ReturnType<typeof createConvertActivities>;
