import { z } from 'zod';
import { fieldProblems, type FieldProblem } from '../validation.js';
import { FIT_MODES, OUTPUT_FORMATS, type FitMode, type OutputFormat } from './formats.js';

export interface ConversionOptions {
  output_format: OutputFormat;
  quality?: number;
  width?: number;
  height?: number;
  fit?: FitMode;
}

/** Form fields and query parameters arrive as strings; numbers are parsed strictly (no "12px", no "1e3"). */
const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

export function conversionOptionsSchema(limits: { maxOutputDimension: number }) {
  return z
    .object({
      output_format: z.enum(OUTPUT_FORMATS, { message: `output_format must be one of ${OUTPUT_FORMATS.join(', ')}` }),
      quality: wholeNumber('quality', 1, 100).optional(),
      width: wholeNumber('width', 1, limits.maxOutputDimension).optional(),
      height: wholeNumber('height', 1, limits.maxOutputDimension).optional(),
      fit: z.enum(FIT_MODES, { message: `fit must be one of ${FIT_MODES.join(', ')}` }).optional(),
    })
    .strict();
}

export function parseConversionOptions(
  raw: Record<string, string>,
  limits: { maxOutputDimension: number },
): { ok: true; options: ConversionOptions } | { ok: false; problems: FieldProblem[] } {
  const result = conversionOptionsSchema(limits).safeParse(raw);
  if (result.success) {
    const options = Object.fromEntries(Object.entries(result.data).filter(([, v]) => v !== undefined));
    return { ok: true, options: options as unknown as ConversionOptions };
  }
  return {
    ok: false,
    problems: fieldProblems(result.error, 'option'),
  };
}
