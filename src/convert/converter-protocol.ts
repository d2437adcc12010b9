import type { BlobLocation } from '../storage/blob-store.js';
import type { ConversionFacts, ConversionLimits, InputErrorCode } from './pipeline.js';
import type { ConversionOptions } from '../model/conversion-options.js';

/** One conversion, as blob keys: the converter reads the original and writes the output itself. */
export interface ConversionJob {
  blobs: BlobLocation;
  inputKey: string;
  outputKey: string;
  /** Where outputs after the first go, when the options ask for several (renditions). */
  renditionKeys?: string[];
  /**
   * The blob key of each watermark asset the options name, found through the account that
   * owns the conversion; an asset missing here is not one of that account's.
   */
  watermarkKeys?: Record<string, string>;
}

/** What the worker sends a converter process (over IPC: keys and options, never the file's bytes). */
export interface ConverterRequest {
  id: number;
  job: ConversionJob;
  options: ConversionOptions;
  limits: ConversionLimits;
}

export type ConverterReply =
  | { ready: true }
  | { id: number; ok: true; facts: ConversionFacts }
  | {
      id: number;
      ok: false;
      inputError: { code: InputErrorCode; message: string } | undefined;
      /** The blob store was away: the conversion may be tried again once it answers. */
      storageUnavailable?: boolean;
      /** …because it is out of space. */
      storageFull?: boolean;
      message: string;
    };
