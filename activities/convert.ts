import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConversionInputError, convertImage, type ConversionLimits } from '../src/convert/pipeline.js';
import type { BlobStore } from '../src/storage/blob-store.js';
import type { ConversionOptions } from '../src/convert/options.js';

export interface ConvertInput {
  conversionId: string;
  inputKey: string;
  outputKey: string;
  options: ConversionOptions;
}

export interface ConvertResult {
  input: { format: string; width: number; height: number; bytes: number };
  output: { key: string; format: string; width: number; height: number; bytes: number };
  attempt: number;
}

export interface ConvertDependencies {
  blobs: BlobStore;
  limits: ConversionLimits;
}

export function createConvertActivities({ blobs, limits }: ConvertDependencies) {
  return {
    /**
     * Reads the original from the blob store, converts it, writes the output under a key
     * fixed by the workflow (so a retry overwrites rather than duplicates). Bad input is a
     * non-retryable failure whose type is Kiln's stable error code.
     */
    async convertImage(input: ConvertInput): Promise<ConvertResult> {
      const context = Context.current();
      // sharp gives no progress callbacks; a steady heartbeat tells Temporal this worker is alive.
      const heartbeat = setInterval(() => context.heartbeat(), 1000);
      try {
        const original = await blobs.read(input.inputKey);
        const converted = await convertImage(original, input.options, limits);
        await blobs.write(input.outputKey, converted.bytes);
        return { input: converted.input, output: { key: input.outputKey, ...converted.output }, attempt: context.info.attempt };
      } catch (error) {
        if (error instanceof ConversionInputError) {
          throw ApplicationFailure.create({ type: error.code, message: error.message, nonRetryable: true });
        }
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}

export type ConvertActivities = ReturnType<typeof createConvertActivities>;
