import { constants, gunzipSync } from 'node:zlib';

/**
 * A cheap look at the first bytes of an upload: is it one of the image formats Kiln reads?
 * Lets the API refuse a JSON file, a text, an archive or a document at submit (415
 * `unsupported_input`), before anything is stored or any workflow starts. It judges the
 * container only; whether the pixels decode is the converter's to find out.
 */

/** How many leading bytes the judgement needs (an SVG's `<svg` may follow an XML prolog and comments). */
export const SNIFF_BYTES = 4096;

export type SniffedFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'heif' | 'jxl' | 'svg' | 'pdf';

export type Sniffed = { image: true; format: SniffedFormat } | { image: false; looksLike: string };

/** ISO-BMFF brands of the HEIF family: AVIF (AV1-coded) and HEIC (HEVC-coded, as phones take them) among them. */
const HEIF_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'mif2']);

const startsWith = (head: Buffer, bytes: number[], offset = 0): boolean => bytes.every((byte, i) => head[offset + i] === byte);
const ascii = (head: Buffer, start: number, end: number): string => head.subarray(start, end).toString('latin1');

/** The `ftyp` box's brands: the major one first, then the compatible ones. */
function brands(head: Buffer): string[] {
  if (ascii(head, 4, 8) !== 'ftyp') return [];
  const size = head.readUInt32BE(0);
  const end = Math.min(size >= 16 ? size : 16, head.length);
  const found = [ascii(head, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) found.push(ascii(head, at, at + 4));
  return found;
}

const JXL_CODESTREAM = [0xff, 0x0a];
const JXL_CONTAINER = [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a];

/** A JPEG XL codestream, bare or in its ISO-BMFF container. */
export const isJxl = (head: Buffer): boolean => startsWith(head, JXL_CODESTREAM) || startsWith(head, JXL_CONTAINER);

/** A PDF starts with `%PDF-`; readers (PDFium among them) accept it anywhere in the first kilobyte. */
export const isPdf = (head: Buffer): boolean => head.subarray(0, 1024).includes('%PDF-', 0, 'latin1');

/** A HEIF file (AVIF or HEIC): the decoder has the last word on its images' coding. */
const isHeif = (head: Buffer): boolean => brands(head).some((brand) => HEIF_BRANDS.has(brand));

function looksLikeSvg(text: string): boolean {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (/^<svg[\s>]/i.test(trimmed)) return true;
  // An XML prolog, a doctype or comments may come first; the root element must show within the bytes looked at.
  return /^<(\?xml|!doctype|!--)/i.test(trimmed) && /<svg[\s>]/i.test(trimmed);
}

/** What else a refused file most likely is, for the error message. */
function describe(head: Buffer): string {
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return 'a ZIP archive (or a document built on one)';
  if (startsWith(head, [0x1f, 0x8b])) return 'gzip-compressed data that is not an SVG';
  if (startsWith(head, [0x42, 0x4d])) return 'a BMP image, which Kiln does not read';
  if (startsWith(head, [0x00, 0x00, 0x01, 0x00])) return 'an ICO icon, which Kiln does not read';
  if (ascii(head, 4, 8) === 'ftyp') return `an ISO media file of brand ${JSON.stringify(ascii(head, 8, 12))} (a video?), not an image Kiln reads`;
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46])) return `a RIFF file of type ${JSON.stringify(ascii(head, 8, 12))}, not WebP`;
  const text = head.toString('utf8');
  // eslint-disable-next-line no-control-regex -- control characters are what tells binary from text
  if (!text.includes('\uFFFD') && !/[\x00-\x08\x0e-\x1f]/.test(text)) {
    const trimmed = text.trimStart();
    if (/^[[{]/.test(trimmed)) return 'JSON';
    if (/^<(!doctype html|html)/i.test(trimmed)) return 'an HTML page';
    if (trimmed.startsWith('<')) return 'XML that is not an SVG';
    return 'text';
  }
  return 'data of no image format Kiln reads';
}

export function sniffImage(head: Buffer): Sniffed {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { image: true, format: 'jpeg' };
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { image: true, format: 'png' };
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return { image: true, format: 'gif' };
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return { image: true, format: 'webp' };
  if (
    startsWith(head, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(head, [0x4d, 0x4d, 0x00, 0x2a]) ||
    startsWith(head, [0x49, 0x49, 0x2b, 0x00]) ||
    startsWith(head, [0x4d, 0x4d, 0x00, 0x2b])
  )
    return { image: true, format: 'tiff' };
  if (head.length >= 12 && isHeif(head)) return { image: true, format: 'heif' };
  if (isJxl(head)) return { image: true, format: 'jxl' };
  if (isPdf(head)) return { image: true, format: 'pdf' };
  if (startsWith(head, [0x1f, 0x8b])) {
    // SVGZ: inflate what arrived of it (a partial stream is fine) and look again.
    let inflated: Buffer | undefined;
    try {
      inflated = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 4 * SNIFF_BYTES });
    } catch {
      inflated = undefined;
    }
    if (inflated && looksLikeSvg(inflated.toString('utf8'))) return { image: true, format: 'svg' };
  } else if (looksLikeSvg(head.toString('utf8'))) return { image: true, format: 'svg' };
  return { image: false, looksLike: describe(head) };
}
