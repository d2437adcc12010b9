import { z } from 'zod';
import { fieldProblems, type FieldProblem } from '../validation.js';
import { FIT_MODES, MAX_DIMENSION, OUTPUT_FORMATS, type FitMode, type OutputFormat } from './formats.js';

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

export interface OptionLimits {
  maxOutputDimension: number;
  maxOutputPixels: number;
}

/** Other names people use for the output formats; matched in any case, like the names themselves. */
const FORMAT_ALIASES: Record<string, OutputFormat> = { jpg: 'jpeg', jpe: 'jpeg', tif: 'tiff' };

/** Fits whose output is exactly width × height when both are given. */
const EXACT_FITS: ReadonlySet<FitMode> = new Set(['cover', 'contain', 'fill']);

export function conversionOptionsSchema(limits: OptionLimits) {
  return z
    .object({
      output_format: z.preprocess(
        (value) => (typeof value === 'string' ? (FORMAT_ALIASES[value.toLowerCase()] ?? value.toLowerCase()) : value),
        z.enum(OUTPUT_FORMATS, {
          error: (issue) => (issue.input === undefined ? 'output_format is required' : `output_format must be one of ${OUTPUT_FORMATS.join(', ')}`),
        }),
      ),
      quality: wholeNumber('quality', 1, 100).optional(),
      width: wholeNumber('width', 1, limits.maxOutputDimension).optional(),
      height: wholeNumber('height', 1, limits.maxOutputDimension).optional(),
      fit: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.toLowerCase() : value),
          z.enum(FIT_MODES, { message: `fit must be one of ${FIT_MODES.join(', ')}` }),
        )
        .optional(),
    })
    .strict()
    .superRefine((options, ctx) => {
      // What can be known before the image is read: the encoder's own size limit, and the
      // pixel count of an exactly-sized output. The rest is checked once the input's size is known.
      const max = MAX_DIMENSION[options.output_format];
      for (const side of ['width', 'height'] as const) {
        const value = options[side];
        if (value !== undefined && value > max) {
          ctx.addIssue({ code: 'custom', path: [side], message: `${side} must be at most ${max} for ${options.output_format}` });
        }
      }
      const { width, height } = options;
      if (width !== undefined && height !== undefined && EXACT_FITS.has(options.fit ?? 'cover') && width * height > limits.maxOutputPixels) {
        ctx.addIssue({
          code: 'custom',
          path: ['width'],
          message: `width × height is ${width * height} pixels; the limit is ${limits.maxOutputPixels} (KILN_MAX_OUTPUT_PIXELS)`,
        });
      }
    });
}

export function parseConversionOptions(
  raw: Record<string, string>,
  limits: OptionLimits,
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
