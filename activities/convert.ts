import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConversionAbortedError, type Converter } from '../src/convert/converter-pool.js';
import { ConversionInputError } from '../src/convert/pipeline.js';
import type { BlobStore } from '../src/storage/blob-store.js';
import type { ConversionOptions } from '../src/convert/options.js';

export interface ConvertInput {
  conversionId: string;
  inputKey: string;
  outputKey: string;
  options: ConversionOptions;
  /** How long the image work may take before it is stopped as time_limit_exceeded. */
  timeLimitSeconds: number;
}

export interface ConvertResult {
  input: { format: string; width: number; height: number; bytes: number };
  output: { key: string; format: string; width: number; height: number; bytes: number };
  attempt: number;
}

export interface ConvertDependencies {
  blobs: BlobStore;
  converter: Converter;
}

export function createConvertActivities({ blobs, converter }: ConvertDependencies) {
  return {
    /**
     * Reads the original from the blob store, converts it, writes the output under a key
     * fixed by the workflow (so a retry overwrites rather than duplicates). Bad input is a
     * non-retryable failure whose type is Kiln's stable error code. A cancel stops the
     * image work itself: the converter process is killed.
     */
    async convertImage(input: ConvertInput): Promise<ConvertResult> {
      const context = Context.current();
      // sharp gives no progress callbacks; a steady heartbeat tells Temporal this worker is
      // alive, and its answer is how a cancel reaches this activity.
      const heartbeat = setInterval(() => context.heartbeat(), 1000);
      try {
        const original = await blobs.read(input.inputKey);
        const converted = await converter.convert(original, input.options, {
          signal: context.cancellationSignal,
          timeLimitMs: input.timeLimitSeconds * 1000,
        });
        await blobs.write(input.outputKey, converted.bytes);
        return { input: converted.input, output: { key: input.outputKey, ...converted.output }, attempt: context.info.attempt };
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
