export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff', 'jxl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const FIT_MODES = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export type FitMode = (typeof FIT_MODES)[number];

/** Where cover crops and contain places: sides, corners, the centre, or a smart crop (cover only). */
export const POSITIONS = ['center', 'north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest', 'attention', 'entropy'] as const;
export type Position = (typeof POSITIONS)[number];
/** The sides, corners and centre: where a watermark goes. */
export const GRAVITIES = ['center', 'north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest'] as const;

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
  jxl: 'image/jxl',
};

export const EXTENSIONS: Record<OutputFormat, string> = {
  jpeg: 'jpg',
  png: 'png',
  webp: 'webp',
  avif: 'avif',
  gif: 'gif',
  tiff: 'tiff',
  jxl: 'jxl',
};

export function outputFilename(inputFilename: string, format: OutputFormat): string {
  const base = inputFilename.replace(/\.[^./\\]*$/, '') || 'image';
  return `${base}.${EXTENSIONS[format]}`;
}

/** The largest width or height each encoder can write (libwebp 16383, libheif/AV1 16384, GIF's 16-bit fields, libjpeg 65500, JPEG XL's 2^30). */
export const MAX_DIMENSION: Record<OutputFormat, number> = {
  jpeg: 65500,
  png: 1 << 30,
  webp: 16383,
  avif: 16384,
  gif: 65535,
  tiff: 1 << 30,
  jxl: 1 << 30,
};

/** The name of output `index` (from 1) of a conversion with several: the original's name, numbered. */
export function renditionFilename(inputFilename: string, index: number, format: OutputFormat): string {
  const base = inputFilename.replace(/\.[^./\\]*$/, '') || 'image';
  return `${base}-${index}.${EXTENSIONS[format]}`;
}
