import type { ConversionOptions } from '../model/conversion-options.js';
import { openPdf, PdfError, type PdfDocument } from './pdf.js';
import { tiffHeaderSize, writeTiffHeader, type TiffImage } from './raw-tiff.js';
import { ConversionInputError, type ConversionLimits } from './pipeline-errors.js';
import type { DecodedInput } from './decoded-input.js';

/** Dots per inch a page is drawn at without `density` (a point is 1/72 inch: one pixel per point, as libvips does). */
export const DEFAULT_PDF_DENSITY = 72;
/** The widest side a page may be drawn at, whatever the pixel limit allows. */
const MAX_SIDE = 65_535;

/**
 * Draws page `options.page` (the first without it) of a PDF at `options.density`, after its
 * size at that density passes the pixel limit: nothing is drawn for a page that would be
 * too large, whatever the file's own dimensions claim.
 */
export async function decodePdf(
  input: Buffer,
  options: Pick<ConversionOptions, 'page' | 'density'>,
  limits: Pick<ConversionLimits, 'maxInputPixels'>,
): Promise<DecodedInput> {
  let document: PdfDocument;
  try {
    document = await openPdf(input);
  } catch (error) {
    throw inputError(error);
  }
  try {
    return drawChosen(document, options, limits);
  } catch (error) {
    throw error instanceof ConversionInputError ? error : inputError(error);
  } finally {
    document.close();
  }
}

function drawChosen(
  document: PdfDocument,
  options: Pick<ConversionOptions, 'page' | 'density'>,
  limits: Pick<ConversionLimits, 'maxInputPixels'>,
): DecodedInput {
  if (document.pages < 1) throw new ConversionInputError('unsupported_input', 'the PDF has no pages');
  const index = options.page ?? 0;
  if (index >= document.pages) {
    throw new ConversionInputError('page_not_found', `page ${index} was asked for; the PDF has ${document.pages} (counted from 0)`);
  }
  const points = document.pageSize(index);
  if (!(points.width > 0 && points.height > 0 && Number.isFinite(points.width) && Number.isFinite(points.height))) {
    throw new ConversionInputError('unsupported_input', `page ${index} has no usable size (${points.width}x${points.height} points)`);
  }
  const density = options.density ?? DEFAULT_PDF_DENSITY;
  // A part pixel is a whole one, as poppler counts them (an A4 page at 72 dpi is 596x842).
  const pixelsOf = (length: number): number => Math.max(1, Math.ceil((length * density) / 72 - 1e-6));
  const [width, height] = [pixelsOf(points.width), pixelsOf(points.height)];
  const pixels = width * height;
  if (pixels > limits.maxInputPixels || width > MAX_SIDE || height > MAX_SIDE) {
    const page = `page ${index} is ${Math.round(points.width)}x${Math.round(points.height)} points: at ${density} dpi that is ${width}x${height} pixels`;
    const limit = pixels > limits.maxInputPixels ? `the limit is ${limits.maxInputPixels}` : `a side may be at most ${MAX_SIDE}`;
    throw new ConversionInputError('too_many_pixels', `${page}; ${limit} (a lower density draws it smaller)`);
  }
  const tiff: TiffImage = { width, height, channels: 3 };
  const image = document.render(index, width, height, tiffHeaderSize(tiff));
  return { image: writeTiffHeader(image, tiff), format: 'pdf', pages: document.pages };
}

function inputError(error: unknown): ConversionInputError {
  const reason = error instanceof Error ? error.message : String(error);
  // A PdfError is PDFium's refusal; anything else is a trap inside it, on this file's account.
  return new ConversionInputError('unsupported_input', `the PDF could not be ${error instanceof PdfError ? 'read' : 'drawn'} (${reason})`);
}
