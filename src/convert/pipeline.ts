import { gunzipSync } from 'node:zlib';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { MAX_DIMENSION, QUALITY_FORMATS, type OutputFormat } from './formats.js';
import type { ConversionOptions } from './options.js';

export interface ConversionLimits {
  maxInputPixels: number;
  maxOutputPixels: number;
  avifEffort: number;
}

export interface ImageFacts {
  format: string;
  width: number;
  height: number;
  bytes: number;
}

/** What a conversion found of its input and made of its output. */
export interface ConversionFacts {
  input: ImageFacts;
  output: ImageFacts & { format: OutputFormat };
}

export interface ConversionOutput extends ConversionFacts {
  bytes: Buffer;
}

/** Error codes for input that no retry can fix (the last two are set by the converter pool, which measures the work). */
export const INPUT_ERROR_CODES = [
  'unsupported_input',
  'too_many_pixels',
  'output_too_large',
  'unsupported_svg_feature',
  'time_limit_exceeded',
  'memory_limit_exceeded',
] as const;
export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

export class ConversionInputError extends Error {
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ConversionInputError';
  }
}

function describeSharpError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * SVG filter primitives whose cost grows with area times a parameter the file chooses
 * (a 322-byte SVG of turbulence and morphology keeps a core busy for minutes at 3000²).
 * An internal DTD can assemble any of them from entities, so declarations are refused too.
 */
const COSTLY_SVG = /<(?:[\w.-]+:)?(feMorphology|feTurbulence|feConvolveMatrix|feDisplacementMap|feDiffuseLighting|feSpecularLighting)\b|<!ENTITY/i;
const MAX_SVG_TEXT_BYTES = 64 * 1024 * 1024;

function refuseCostlySvg(input: Buffer): void {
  let text: Buffer;
  try {
    // SVGZ: librsvg inflates it, so the check must too (bounded, against a gzip bomb).
    text = input[0] === 0x1f && input[1] === 0x8b ? gunzipSync(input, { maxOutputLength: MAX_SVG_TEXT_BYTES }) : input;
  } catch {
    throw new ConversionInputError('unsupported_input', `the SVG could not be inflated within ${MAX_SVG_TEXT_BYTES} bytes`);
  }
  const found = COSTLY_SVG.exec(text.toString('latin1'));
  if (found) {
    const what = found[1] ? `the ${found[1]} filter` : 'entity declarations';
    throw new ConversionInputError('unsupported_svg_feature', `SVG inputs may not use ${what}: its cost is unbounded`);
  }
}

/** The size resizing will produce, from the upright input size (sharp's own rounding, give or take a pixel). */
export function plannedOutputSize(input: { width: number; height: number }, options: ConversionOptions): { width: number; height: number } {
  const { width, height } = options;
  if (width === undefined && height === undefined) return input;
  if (width !== undefined && height === undefined) return { width, height: Math.max(1, Math.round((input.height * width) / input.width)) };
  if (width === undefined && height !== undefined) return { width: Math.max(1, Math.round((input.width * height) / input.height)), height };
  const fit = options.fit ?? 'cover';
  if (fit !== 'inside' && fit !== 'outside') return { width: width!, height: height! };
  const pick = fit === 'inside' ? Math.min : Math.max;
  const scale = pick(width! / input.width, height! / input.height);
  return { width: Math.max(1, Math.round(input.width * scale)), height: Math.max(1, Math.round(input.height * scale)) };
}

/** EXIF orientations 5–8 turn the image a quarter, swapping its sides once auto-oriented. */
function uprightSize(metadata: Metadata & { width: number; height: number }): { width: number; height: number } {
  const turned = (metadata.orientation ?? 1) >= 5;
  return turned ? { width: metadata.height, height: metadata.width } : { width: metadata.width, height: metadata.height };
}

/**
 * Decodes `input`, applies orientation and resizing, and encodes to the requested format.
 * Anything sharp refuses about the input itself becomes a ConversionInputError; so does an
 * input or a planned output past the limits, before any pixel is decoded.
 */
export async function convertImage(input: Buffer, options: ConversionOptions, limits: ConversionLimits): Promise<ConversionOutput> {
  let metadata: Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ConversionInputError('unsupported_input', `the file is not an image Kiln can read (${describeSharpError(error)})`);
  }
  if (!metadata.format || !metadata.width || !metadata.height) {
    throw new ConversionInputError('unsupported_input', 'the file is not an image Kiln can read');
  }
  const pixels = metadata.width * metadata.height;
  if (pixels > limits.maxInputPixels) {
    throw new ConversionInputError(
      'too_many_pixels',
      `the image has ${pixels} pixels (${metadata.width}x${metadata.height}); the limit is ${limits.maxInputPixels}`,
    );
  }
  if (metadata.format === 'svg') refuseCostlySvg(input);

  const format = options.output_format;
  const planned = plannedOutputSize(uprightSize({ ...metadata, width: metadata.width, height: metadata.height }), options);
  if (planned.width * planned.height > limits.maxOutputPixels) {
    throw new ConversionInputError(
      'output_too_large',
      `the output would be ${planned.width}x${planned.height} (${planned.width * planned.height} pixels); the limit is ${limits.maxOutputPixels} (KILN_MAX_OUTPUT_PIXELS)`,
    );
  }
  if (Math.max(planned.width, planned.height) > MAX_DIMENSION[format]) {
    throw new ConversionInputError(
      'output_too_large',
      `the output would be ${planned.width}x${planned.height}; ${format} allows at most ${MAX_DIMENSION[format]} pixels a side`,
    );
  }

  // failOn 'warning' (sharp's own default): a JPEG cut off after its header decodes with
  // nothing but a warning, as a grey picture that would otherwise "succeed".
  let pipeline = sharp(input, { limitInputPixels: limits.maxInputPixels, failOn: 'warning' }).rotate();
  if (options.width !== undefined || options.height !== undefined) {
    pipeline = pipeline.resize({ width: options.width, height: options.height, fit: options.fit ?? 'cover' });
  }
  const quality = QUALITY_FORMATS.has(format) ? options.quality : undefined;
  // Options a format does not take are ignored by sharp; AVIF's effort is Kiln's own default.
  pipeline = pipeline.toFormat(format, { quality, ...(format === 'avif' ? { effort: limits.avifEffort } : {}) });

  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await pipeline.toBuffer({ resolveWithObject: true });
  } catch (error) {
    // The header was readable but the pixel data was not: a truncated or corrupt file.
    throw new ConversionInputError('unsupported_input', `the image could not be decoded (${describeSharpError(error)})`);
  }
  return {
    bytes: result.data,
    input: { format: metadata.format, width: metadata.width, height: metadata.height, bytes: input.length },
    output: { format, width: result.info.width, height: result.info.height, bytes: result.data.length },
  };
}
