import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { QUALITY_FORMATS, type OutputFormat } from './formats.js';
import type { ConversionOptions } from './options.js';

export interface ConversionLimits {
  maxInputPixels: number;
  avifEffort: number;
}

export interface ImageFacts {
  format: string;
  width: number;
  height: number;
  bytes: number;
}

export interface ConversionOutput {
  bytes: Buffer;
  input: ImageFacts;
  output: ImageFacts & { format: OutputFormat };
}

/** Error codes for input that no retry can fix. */
export type InputErrorCode = 'unsupported_input' | 'too_many_pixels';

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
 * Decodes `input`, applies orientation and resizing, and encodes to the requested format.
 * Anything sharp refuses about the input itself becomes a ConversionInputError.
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

  const format = options.output_format;
  let pipeline = sharp(input, { limitInputPixels: limits.maxInputPixels, failOn: 'error' }).rotate();
  if (options.width !== undefined || options.height !== undefined) {
    pipeline = pipeline.resize({ width: options.width, height: options.height, fit: options.fit ?? 'cover' });
  }
  const quality = QUALITY_FORMATS.has(format) ? options.quality : undefined;
  switch (format) {
    case 'jpeg':
      pipeline = pipeline.jpeg({ quality, mozjpeg: false });
      break;
    case 'png':
      pipeline = pipeline.png();
      break;
    case 'webp':
      pipeline = pipeline.webp({ quality });
      break;
    case 'avif':
      pipeline = pipeline.avif({ quality, effort: limits.avifEffort });
      break;
    case 'gif':
      pipeline = pipeline.gif();
      break;
    case 'tiff':
      pipeline = pipeline.tiff({ quality });
      break;
  }

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
