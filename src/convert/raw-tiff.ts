/**
 * Pixels a decoder outside sharp produced, handed to sharp as an uncompressed TIFF: the one
 * container sharp reads at the speed of a copy that also carries an ICC profile, so
 * sharp converts the image to sRGB from its own profile as it does for any other input
 * (raw input has no way to name one).
 *
 * The header is written in front of the pixels in one buffer, which the decoder fills
 * from `tiffHeaderSize` on, so the pixels are copied once, out of the decoder, and never
 * again.
 */

/** TIFF field types. */
const SHORT = 3;
const LONG = 4;
const UNDEFINED = 7;

export interface TiffImage {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGB with unassociated alpha), 8 bits each. */
  channels: 3 | 4;
  icc?: Buffer;
  /** EXIF orientation (1–8) for sharp to apply; 1 or absent: upright already. */
  orientation?: number;
}

/** Rows per strip: strips of about a megabyte, as libtiff likes them. */
function rowsPerStrip(image: TiffImage): number {
  return Math.max(1, Math.floor((1024 * 1024) / (image.width * image.channels)));
}

const ENTRY = 12;

function entryCount(image: TiffImage): number {
  return 10 + (turned(image) ? 1 : 0) + (image.channels === 4 ? 1 : 0) + (image.icc ? 1 : 0);
}

const turned = (image: TiffImage): boolean => image.orientation !== undefined && image.orientation !== 1;

/** Bytes before the pixels: the header, the directory and its out-of-line values, 2-byte aligned. */
export function tiffHeaderSize(image: TiffImage): number {
  const strips = Math.ceil(image.height / rowsPerStrip(image));
  const size = 8 + 2 + entryCount(image) * ENTRY + 4 + image.channels * 2 + strips * 8 + (image.icc?.length ?? 0);
  return size + (size % 2);
}

/**
 * Writes the TIFF header into `file`, whose pixels (rows packed, channels interleaved)
 * already follow at `tiffHeaderSize(image)`; answers `file`.
 */
export function writeTiffHeader(file: Buffer, image: TiffImage): Buffer {
  const rows = rowsPerStrip(image);
  const strips = Math.ceil(image.height / rows);
  const rowBytes = image.width * image.channels;
  const pixelsAt = tiffHeaderSize(image);
  if (file.length !== pixelsAt + rowBytes * image.height) throw new Error('the buffer does not hold the header and the pixels');
  const entries = entryCount(image);
  // Out-of-line values, after the directory: bits per sample, strip offsets, strip sizes, the profile.
  const bitsAt = 8 + 2 + entries * ENTRY + 4;
  const offsetsAt = bitsAt + image.channels * 2;
  const countsAt = offsetsAt + strips * 4;
  const iccAt = countsAt + strips * 4;

  file.write('II', 0, 'latin1');
  file.writeUInt16LE(42, 2);
  file.writeUInt32LE(8, 4);
  file.writeUInt16LE(entries, 8);
  let at = 10;
  const entry = (tag: number, type: number, count: number, value: number): void => {
    file.writeUInt16LE(tag, at);
    file.writeUInt16LE(type, at + 2);
    file.writeUInt32LE(count, at + 4);
    // A SHORT that fits is stored left-justified in the value field; anything else is a LONG or an offset.
    if (type === SHORT && count === 1) {
      file.writeUInt16LE(value, at + 8);
      file.writeUInt16LE(0, at + 10);
    } else file.writeUInt32LE(value, at + 8);
    at += ENTRY;
  };
  // Tags in ascending order, as TIFF requires.
  entry(256, LONG, 1, image.width);
  entry(257, LONG, 1, image.height);
  entry(258, SHORT, image.channels, bitsAt);
  entry(259, SHORT, 1, 1); // no compression
  entry(262, SHORT, 1, 2); // RGB
  entry(273, LONG, strips, strips === 1 ? pixelsAt : offsetsAt);
  if (turned(image)) entry(274, SHORT, 1, image.orientation!);
  entry(277, SHORT, 1, image.channels);
  entry(278, LONG, 1, rows);
  entry(279, LONG, strips, strips === 1 ? rowBytes * image.height : countsAt);
  entry(284, SHORT, 1, 1); // interleaved
  if (image.channels === 4) entry(338, SHORT, 1, 2); // unassociated alpha
  if (image.icc) entry(34675, UNDEFINED, image.icc.length, iccAt);
  file.writeUInt32LE(0, at); // no next directory

  for (let channel = 0; channel < image.channels; channel++) file.writeUInt16LE(8, bitsAt + channel * 2);
  for (let strip = 0; strip < strips; strip++) {
    const first = strip * rows;
    file.writeUInt32LE(pixelsAt + first * rowBytes, offsetsAt + strip * 4);
    file.writeUInt32LE(Math.min(rows, image.height - first) * rowBytes, countsAt + strip * 4);
  }
  image.icc?.copy(file, iccAt);
  return file;
}
