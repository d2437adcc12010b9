import sharp from 'sharp';
import type { ConversionOptions } from '../model/conversion-options.js';
import { HeifError, openHeic, SECURITY_LIMIT_EXCEEDED } from './heic.js';
import { tiffHeaderSize, writeTiffHeader, type TiffImage } from './raw-tiff.js';
import { ConversionInputError, type ConversionLimits } from './pipeline-errors.js';
import type { DecodedInput } from './decoded-input.js';

/** The widest side libheif may accept while it parses (grids and overlays included). */
const MAX_SIDE = 65_535;

let displayP3: Promise<Buffer> | undefined;
/** The Display P3 ICC profile libvips carries, for an image whose nclx profile names those primaries. */
function displayP3Profile(): Promise<Buffer> {
  displayP3 ??= sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .withIccProfile('p3')
    .png()
    .toBuffer()
    .then(async (png) => (await sharp(png).metadata()).icc!);
  return displayP3;
}

/**
 * Decodes the image `options.page` names (the primary one without it) of a HEIC file,
 * after its size passes the pixel limit: nothing is decoded for a file that claims too much.
 */
export async function decodeHeic(
  input: Buffer,
  options: Pick<ConversionOptions, 'page'>,
  limits: Pick<ConversionLimits, 'maxInputPixels'>,
): Promise<DecodedInput> {
  try {
    return await decodeChosen(input, options, limits);
  } catch (error) {
    // libheif's own refusals (and a trap inside it) are the input's fault, told by a stable code.
    throw error instanceof ConversionInputError ? error : inputError(error);
  }
}

async function decodeChosen(input: Buffer, options: Pick<ConversionOptions, 'page'>, limits: Pick<ConversionLimits, 'maxInputPixels'>): Promise<DecodedInput> {
  const file = await openHeic(input, MAX_SIDE);
  try {
    const index = options.page ?? file.primary;
    if (index >= file.images) {
      throw new ConversionInputError('page_not_found', `image ${index} was asked for; the file has ${file.images} (counted from 0)`);
    }
    const header = file.image(index);
    const pixels = header.width * header.height;
    if (pixels > limits.maxInputPixels) {
      throw new ConversionInputError(
        'too_many_pixels',
        `the image has ${pixels} pixels (${header.width}x${header.height}); the limit is ${limits.maxInputPixels}`,
      );
    }
    const tiff: TiffImage = {
      width: header.width,
      height: header.height,
      channels: header.alpha ? 4 : 3,
      icc: header.profile === 'display-p3' ? await displayP3Profile() : header.profile,
      orientation: header.orientation,
    };
    const image = file.decode(index, tiffHeaderSize(tiff));
    return { image: writeTiffHeader(image, tiff), format: 'heic', pages: file.images };
  } finally {
    file.close();
  }
}

function inputError(error: unknown): ConversionInputError {
  if (error instanceof HeifError && error.subcode === SECURITY_LIMIT_EXCEEDED) {
    return new ConversionInputError('too_many_pixels', `the HEIC file claims more than its decoder allows (${error.message})`);
  }
  if (error instanceof HeifError) return new ConversionInputError('unsupported_input', `the HEIC image could not be decoded (${error.message})`);
  return new ConversionInputError('unsupported_input', `the HEIC image could not be decoded (${error instanceof Error ? error.message : String(error)})`);
}
