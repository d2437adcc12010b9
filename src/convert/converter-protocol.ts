import type { ConversionLimits, ConversionOutput, InputErrorCode } from './pipeline.js';
import type { ConversionOptions } from './options.js';

/** What the worker sends a converter process (over IPC, with V8 serialisation so buffers travel as bytes). */
export interface ConverterRequest {
  id: number;
  input: Uint8Array;
  options: ConversionOptions;
  limits: ConversionLimits;
}

export type ConverterReply =
  | { ready: true }
  | { id: number; ok: true; output: ConversionOutput }
  | { id: number; ok: false; inputError: { code: InputErrorCode; message: string } | undefined; message: string };
