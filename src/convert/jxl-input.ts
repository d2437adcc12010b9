import type { ConversionOptions } from '../model/conversion-options.js';
import { decodeJxl, readJxlHeader } from './jxl.js';
import { ConversionInputError, tooManyFrames, type ConversionLimits } from './pipeline-errors.js';
import type { DecodedInput } from './decoded-input.js';

/**
 * Decodes a JPEG XL file: frame `options.page` (the first without it), or with
 * `keepAnimation` every frame of an animation. The header is read first and the size
 * checked against the limits (an animation's frames together), so a file that claims too
 * much is refused before any pixel is decoded.
 */
export async function decodeJxlInput(
  input: Buffer,
  options: Pick<ConversionOptions, 'page'>,
  limits: Pick<ConversionLimits, 'maxInputPixels' | 'maxFrames'>,
  keepAnimation: boolean,
): Promise<DecodedInput> {
  const header = await readJxlHeader(input).catch((error: unknown) => {
    throw new ConversionInputError('unsupported_input', `the JPEG XL file could not be read (${(error as Error).message})`);
  });
  if (options.page !== undefined && options.page >= header.frames) {
    throw new ConversionInputError('page_not_found', `frame ${options.page} was asked for; the file has ${header.frames} (counted from 0)`);
  }
  const animate = keepAnimation && header.frames > 1;
  if (animate && header.frames > limits.maxFrames) throw tooManyFrames(header.frames, limits.maxFrames);
  const frames = animate ? header.frames : 1;
  const pixels = header.width * header.height * frames;
  if (pixels > limits.maxInputPixels) {
    const what = frames > 1 ? `${frames} frames of ${header.width}x${header.height}` : `${header.width}x${header.height}`;
    throw new ConversionInputError('too_many_pixels', `the image has ${pixels} pixels (${what}); the limit is ${limits.maxInputPixels}`);
  }
  const image = await decodeJxl(input, animate ? 'all' : (options.page ?? 0)).catch((error: unknown) => {
    throw new ConversionInputError('unsupported_input', `the JPEG XL image could not be decoded (${(error as Error).message})`);
  });
  return {
    image,
    format: 'jxl',
    pages: header.frames,
    ...(animate ? { animation: { ...(header.delay ? { delay: header.delay } : {}), ...(header.loop !== undefined ? { loop: header.loop } : {}) } } : {}),
  };
}
