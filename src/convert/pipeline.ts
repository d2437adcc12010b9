import { gunzipSync } from 'node:zlib';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { MAX_DIMENSION, type OutputFormat } from '../model/formats.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { ConversionInputError, tooManyFrames, type ConversionLimits } from './pipeline-errors.js';
import type { DecodedInput } from './decoded-input.js';
import { decodeHeic } from './heic-input.js';
import { decodeJxlInput } from './jxl-input.js';
import { encodeJxl, JXL_DEFAULT_QUALITY } from './jxl.js';
import { decodePdf } from './pdf-input.js';
import { isJxl, isPdf } from './sniff.js';

export { ConversionInputError, INPUT_ERROR_CODES, type ConversionLimits, type InputErrorCode } from './pipeline-errors.js';

export interface ImageFacts {
  format: string;
  /** Of one frame, for an animation. */
  width: number;
  height: number;
  bytes: number;
  /** Frames of an animated output; absent for a still. */
  frames?: number;
}

export interface InputFacts {
  format: string;
  /** Of the page or frame converted (of one frame, for an animation kept). */
  width: number;
  height: number;
  bytes: number;
  /** Pages of a multi-page input: a document's pages (a PDF's, even one), a collection's images, an animation's frames; absent for a single image. */
  pages?: number;
}

/** What a conversion found of its input and made of its output. */
export interface ConversionFacts {
  input: InputFacts;
  output: ImageFacts & { format: OutputFormat };
  /** Every output, the first included, when the options asked for several. */
  renditions?: Array<ImageFacts & { format: OutputFormat }>;
}

export interface ConversionOutput extends ConversionFacts {
  bytes: Buffer;
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

/**
 * The largest output the options can make from an upright input of this size: after crop,
 * resize (an upper bound: without `enlarge` sharp only ever shrinks), rotation's bounding
 * box and padding. Checked against the limits before any pixel is decoded.
 */
export function largestOutputSize(input: { width: number; height: number }, options: ConversionOptions): { width: number; height: number } {
  const source = options.crop ? { width: options.crop.width, height: options.crop.height } : input;
  let size = plannedOutputSize(source, options);
  if (!options.enlarge) {
    // Without enlarge sharp never scales up: no side passes the source's longer side (contain may pad to a square of it).
    const longest = Math.max(source.width, source.height);
    size = { width: Math.min(size.width, longest), height: Math.min(size.height, longest) };
  }
  if (options.rotate !== undefined && options.rotate % 90 !== 0) {
    const radians = (options.rotate * Math.PI) / 180;
    const [cos, sin] = [Math.abs(Math.cos(radians)), Math.abs(Math.sin(radians))];
    size = { width: Math.ceil(size.width * cos + size.height * sin), height: Math.ceil(size.width * sin + size.height * cos) };
  } else if (options.rotate !== undefined && Math.abs(options.rotate) % 180 === 90) {
    size = { width: size.height, height: size.width };
  }
  const pad = options.extend;
  return pad ? { width: size.width + pad.left + pad.right, height: size.height + pad.top + pad.bottom } : size;
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
/** What a conversion may need beside its input: the watermark asset's bytes, read by the caller. */
export interface ConversionExtras {
  watermark?: Buffer;
}

export async function convertImage(
  original: Buffer,
  asked: ConversionOptions,
  limits: ConversionLimits,
  extras: ConversionExtras = {},
): Promise<ConversionOutput> {
  // What sharp decodes: the original, or one decoded apart: JPEG XL and PDF (which sharp's
  // libvips cannot read), and HEIC (whose header it reads, but not its HEVC pixels).
  let apart = await decodeUnreadable(original, asked, limits);
  let metadata: Metadata;
  try {
    metadata = await sharp(apart?.image ?? original, { limitInputPixels: false }).metadata();
    // An SVG rasterised at another density has another size: plan with that one.
    if (metadata.format === 'svg' && asked.density !== undefined)
      metadata = await sharp(original, { limitInputPixels: false, density: asked.density }).metadata();
  } catch (error) {
    throw new ConversionInputError('unsupported_input', `the file is not an image Kiln can read (${describeSharpError(error)})`);
  }
  if (!apart && metadata.format === 'heif' && metadata.compression === 'hevc') {
    apart = await decodeHeic(original, asked, limits);
    metadata = await sharp(apart.image, { limitInputPixels: false }).metadata();
  }
  const input = apart?.image ?? original;
  // The decoder beside sharp chose the page or frame already.
  const options = apart ? { ...asked, page: undefined } : asked;
  if (!metadata.format || !metadata.width || !metadata.height) {
    throw new ConversionInputError('unsupported_input', 'the file is not an image Kiln can read');
  }
  const format = options.output_format;
  const pages = metadata.pages ?? 1;
  if (options.page !== undefined && options.page >= pages) {
    throw new ConversionInputError('page_not_found', `page ${options.page} was asked for; the file has ${pages} (counted from 0)`);
  }
  const animate = (apart ? apart.animation !== undefined : isAnimation(metadata)) && keepsAnimation(options);
  const frames = animate ? pages : 1;
  if (animate) checkAnimation(options, pages, limits);
  // metadata.height is one page's: an animation decodes every frame.
  const pixels = metadata.width * metadata.height * frames;
  if (pixels > limits.maxInputPixels) {
    const what = frames > 1 ? `${frames} frames of ${metadata.width}x${metadata.height}` : `${metadata.width}x${metadata.height}`;
    throw new ConversionInputError('too_many_pixels', `the image has ${pixels} pixels (${what}); the limit is ${limits.maxInputPixels}`);
  }
  if (metadata.format === 'svg') refuseCostlySvg(input);

  const upright = uprightSize({ ...metadata, width: metadata.width, height: metadata.height });
  const { crop } = options;
  if (crop && (crop.left + crop.width > upright.width || crop.top + crop.height > upright.height)) {
    throw new ConversionInputError(
      'crop_outside_image',
      `crop ${crop.left},${crop.top},${crop.width},${crop.height} reaches outside the ${upright.width}x${upright.height} image`,
    );
  }
  const planned = largestOutputSize(upright, options);
  if (planned.width * planned.height * frames > limits.maxOutputPixels) {
    const what = frames > 1 ? `${frames} frames of ${planned.width}x${planned.height}` : `${planned.width}x${planned.height}`;
    throw new ConversionInputError(
      'output_too_large',
      `the output would be ${what} (${planned.width * planned.height * frames} pixels); the limit is ${limits.maxOutputPixels} (KILN_MAX_OUTPUT_PIXELS)`,
    );
  }
  const side = Math.max(planned.width, planned.height * (format === 'webp' ? frames : 1));
  if (side > MAX_DIMENSION[format]) {
    throw new ConversionInputError(
      'output_too_large',
      `the output would be ${planned.width}x${planned.height}${frames > 1 ? ` in ${frames} frames` : ''}; ${format} allows at most ${MAX_DIMENSION[format]} pixels a side`,
    );
  }

  let result: Encoded;
  try {
    let pipeline = operations(input, options, limits, { animated: animate, svg: metadata.format === 'svg' });
    if (options.watermark_text !== undefined) pipeline = await watermarked(pipeline, options, await textImage(options.watermark_text, options.watermark_color));
    else if (options.watermark) pipeline = await watermarked(pipeline, options, extras.watermark);
    const encode = (quality: number | undefined): Promise<Encoded> =>
      encoded(pipeline.clone(), options, limits, quality, animate ? apart?.animation : undefined);
    result = options.max_bytes === undefined ? await encode(options.quality) : await withinBytes(encode, options);
  } catch (error) {
    if (error instanceof ConversionInputError) throw error;
    // The header was readable but the pixel data was not: a truncated or corrupt file.
    throw new ConversionInputError('unsupported_input', `the image could not be decoded (${describeSharpError(error)})`);
  }
  const many = (count: number): { frames?: number } => (count > 1 ? { frames: count } : {});
  const inputPages = apart?.pages ?? pages;
  return {
    bytes: result.data,
    input: {
      format: apart?.format ?? metadata.format,
      width: metadata.width,
      height: metadata.height,
      bytes: original.length,
      // A PDF says its page count even for one page.
      ...(apart?.format === 'pdf' || inputPages > 1 ? { pages: inputPages } : {}),
    },
    // An animation comes out as its frames stacked: one frame's height is the total over their count.
    output: { format, width: result.info.width, height: Math.round(result.info.height / frames), bytes: result.data.length, ...many(frames) },
  };
}

/** Outputs that keep an animation; other formats take its first frame. */
const ANIMATED_OUTPUTS: ReadonlySet<OutputFormat> = new Set(['gif', 'webp']);

/** Whether the options keep an animated input's frames (else its first frame, or the one `page` names, is a still). */
function keepsAnimation(options: ConversionOptions): boolean {
  return ANIMATED_OUTPUTS.has(options.output_format) && !options.first_frame && options.page === undefined;
}

/** Formats sharp cannot read at all, known by their first bytes and decoded beside it. */
async function decodeUnreadable(original: Buffer, options: ConversionOptions, limits: ConversionLimits): Promise<DecodedInput | undefined> {
  if (isJxl(original)) return decodeJxlInput(original, options, limits, keepsAnimation(options));
  if (isPdf(original)) return decodePdf(original, options, limits);
  return undefined;
}

function isAnimation(metadata: Metadata): boolean {
  return (metadata.pages ?? 1) > 1 && (metadata.format === 'gif' || metadata.format === 'webp');
}

/** What libvips cannot do frame by frame, refused before any work (first_frame takes a still instead). */
function checkAnimation(options: ConversionOptions, pages: number, limits: ConversionLimits): void {
  if (pages > limits.maxFrames) throw tooManyFrames(pages, limits.maxFrames);
  const perFrame = [
    options.rotate !== undefined && 'rotate',
    options.trim !== undefined && 'trim',
    options.flip && 'flip',
    (options.position === 'attention' || options.position === 'entropy') && `position=${options.position}`,
    (options.watermark !== undefined || options.watermark_text !== undefined) && 'watermark',
  ].filter((name): name is string => typeof name === 'string');
  if (perFrame.length) {
    throw new ConversionInputError(
      'unsupported_for_animation',
      `${perFrame.join(', ')} cannot be applied to an animation frame by frame; first_frame=true converts a still`,
    );
  }
}

/** Formats that cannot keep transparency: flattened onto `background` (white by default). */
const NO_ALPHA: ReadonlySet<OutputFormat> = new Set(['jpeg']);
/** Formats that store a single grey channel. */
const GREY_FORMATS: ReadonlySet<OutputFormat> = new Set(['jpeg', 'png', 'tiff']);
/** The encoders' own default qualities, where max_bytes starts its search when none is asked. */
const DEFAULT_QUALITY: Partial<Record<OutputFormat, number>> = { jpeg: 80, webp: 80, avif: 50, jxl: JXL_DEFAULT_QUALITY };

/**
 * The operations in their documented order. sharp runs its steps in an order of its own
 * for some of them; the calls below are in the order sharp honours (extract before resize
 * is a pre-resize crop; rotate by an angle after resize rotates the resized image).
 */
function operations(input: Buffer, options: ConversionOptions, limits: ConversionLimits, kind: { animated: boolean; svg: boolean }): Sharp {
  // failOn 'warning' (sharp's own default): a JPEG cut off after its header decodes with
  // nothing but a warning, as a grey picture that would otherwise "succeed".
  let image = sharp(input, {
    // An animation's frames count against the pixel limit together.
    limitInputPixels: kind.animated ? false : limits.maxInputPixels,
    failOn: 'warning',
    animated: kind.animated,
    ...(options.page !== undefined ? { page: options.page } : {}),
    ...(kind.svg && options.density !== undefined ? { density: options.density } : {}),
  }).autoOrient();
  const background = options.background;
  if (options.crop) image = image.extract(options.crop);
  if (options.trim !== undefined) image = image.trim({ threshold: options.trim });
  if (options.width !== undefined || options.height !== undefined) {
    const position = options.position === 'attention' || options.position === 'entropy' ? sharp.strategy[options.position] : options.position;
    image = image.resize({
      width: options.width,
      height: options.height,
      fit: options.fit ?? 'cover',
      position,
      withoutEnlargement: !options.enlarge,
      ...(background ? { background } : {}),
    });
  }
  if (options.rotate !== undefined) image = image.rotate(options.rotate, { background: background ?? '#00000000' });
  if (options.flip) image = image.flip();
  if (options.flop) image = image.flop();
  if (options.extend) image = image.extend({ ...options.extend, background: background ?? '#00000000' });
  if (options.blur !== undefined) image = image.blur(options.blur);
  if (options.sharpen !== undefined) image = image.sharpen({ sigma: options.sharpen });
  if (options.brightness !== undefined || options.saturation !== undefined || options.hue !== undefined) {
    const { brightness, saturation, hue } = options;
    // sharp refuses a key given as undefined: only the ones asked for.
    image = image.modulate({
      ...(brightness !== undefined ? { brightness } : {}),
      ...(saturation !== undefined ? { saturation } : {}),
      ...(hue !== undefined ? { hue } : {}),
    });
  }
  // One channel where the format has grey: smaller, and what a grey image is.
  if (options.grayscale) image = GREY_FORMATS.has(options.output_format) ? image.grayscale().toColourspace('b-w') : image.grayscale();
  if (options.normalize) image = image.normalize();
  if (NO_ALPHA.has(options.output_format) || (background && background.length !== 9))
    image = image.flatten({ background: background?.slice(0, 7) ?? '#ffffff' });
  if (options.keep_metadata) image = image.keepMetadata();
  else if (options.keep_icc) image = image.keepIccProfile();
  return image;
}

type Encoded = { data: Buffer; info: OutputInfo };
/** An animation's timing, for one decoded beside sharp (sharp reads its own inputs' from the file). */
type Timing = DecodedInput['animation'];

/** The output, encoded; `quality` apart from the options, since max_bytes searches it. */
async function encoded(image: Sharp, options: ConversionOptions, limits: ConversionLimits, quality: number | undefined, timing: Timing): Promise<Encoded> {
  if (options.output_format !== 'jxl') return encoder(image, options, limits, quality, timing).toBuffer({ resolveWithObject: true });
  // sharp's libvips has no JPEG XL encoder: its finished sRGB pixels are encoded beside it.
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const jxl = await encodeJxl(data, info, { quality: quality ?? JXL_DEFAULT_QUALITY, effort: options.effort, lossless: options.lossless });
  return { data: jxl, info: { ...info, format: 'jxl', size: jxl.length } };
}

/** sharp's encoder for the format, with its options. */
function encoder(image: Sharp, options: ConversionOptions, limits: ConversionLimits, quality: number | undefined, timing: Timing): Sharp {
  const format = options.output_format;
  const timed = timing ? { ...(timing.delay ? { delay: timing.delay } : {}), ...(timing.loop !== undefined ? { loop: timing.loop } : {}) } : {};
  switch (format) {
    case 'jxl':
      throw new Error('JPEG XL is encoded beside sharp');
    case 'jpeg':
      return image.jpeg({
        quality,
        progressive: options.progressive,
        chromaSubsampling: options.chroma_subsampling,
        mozjpeg: options.mozjpeg,
      });
    case 'png':
      // sharp's PNG quality turns palette on: it applies only when palette is asked for.
      return image.png({ progressive: options.progressive, palette: options.palette, quality: options.palette ? quality : undefined, effort: options.effort });
    case 'webp':
      return image.webp({ quality, lossless: options.lossless, effort: options.effort, ...timed });
    case 'avif':
      return image.avif({
        quality,
        lossless: options.lossless,
        effort: options.effort ?? limits.avifEffort,
        chromaSubsampling: options.chroma_subsampling,
      });
    case 'gif':
      return image.gif({ effort: options.effort, ...timed });
    case 'tiff':
      return image.tiff({ quality });
  }
}

/**
 * max_bytes: the highest quality, from the one asked for (default the encoder's) down to 1, whose
 * output fits. A binary search: at most 7 encodes after the first.
 */
async function withinBytes(encode: (quality: number) => Promise<Encoded>, options: ConversionOptions): Promise<Encoded> {
  const budget = options.max_bytes!;
  const top = options.quality ?? DEFAULT_QUALITY[options.output_format] ?? 80;
  const first = await encode(top);
  if (first.data.length <= budget) return first;
  let [low, high] = [1, top - 1];
  let best: Encoded | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const tried = await encode(middle);
    if (tried.data.length <= budget) {
      best = tried;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (!best) {
    throw new ConversionInputError(
      'cannot_meet_max_bytes',
      `even at quality 1 the ${options.output_format} output is larger than max_bytes ${budget}; allow more bytes or make it smaller`,
    );
  }
  return best;
}

/** Pango markup must not be made of what a user writes: only its text is theirs. */
function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A text watermark as an image: rendered large (it is scaled like an asset), transparent around the glyphs. */
async function textImage(text: string, color: string | undefined): Promise<Buffer> {
  const markup = `<span foreground="${(color ?? '#ffffff').slice(0, 7)}">${escapeMarkup(text)}</span>`;
  return sharp({ text: { text: markup, font: 'DejaVu Sans', dpi: 300, rgba: true } })
    .png()
    .toBuffer();
}

const WATERMARK_DEFAULTS = { position: 'southeast', margin: 16, opacity: 0.5, size: 0.25 } as const;

/**
 * The image with the watermark laid over it, last of all operations. Its size is a share
 * of the output's width, so the image is made first (as raw pixels), then the watermark is
 * scaled to it (never past the image, margin included), faded, and composited.
 */
async function watermarked(image: Sharp, options: ConversionOptions, asset: Buffer | undefined): Promise<Sharp> {
  if (!asset) throw new ConversionInputError('watermark_not_found', `the watermark ${options.watermark} is not there (deleted?)`);
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  const margin = options.watermark_tiled
    ? 0
    : Math.min(options.watermark_margin ?? WATERMARK_DEFAULTS.margin, Math.floor((Math.min(info.width, info.height) - 1) / 2));
  const room = { width: info.width - 2 * margin, height: info.height - 2 * margin };
  const width = Math.max(1, Math.min(room.width, Math.round(info.width * (options.watermark_size ?? WATERMARK_DEFAULTS.size))));
  const opacity = Math.round(255 * (options.watermark_opacity ?? WATERMARK_DEFAULTS.opacity));
  let mark: Buffer;
  try {
    mark = await sharp(asset, { failOn: 'warning' })
      .resize({ width, height: room.height, fit: 'inside' })
      .ensureAlpha()
      // Fades it: every pixel's alpha times the opacity.
      .composite([{ input: Buffer.from([255, 255, 255, opacity]), raw: { width: 1, height: 1, channels: 4 }, tile: true, blend: 'dest-in' }])
      .extend({ top: margin, bottom: margin, left: margin, right: margin, background: '#00000000' })
      .png()
      .toBuffer();
  } catch (error) {
    throw new ConversionInputError('unsupported_input', `the watermark could not be read (${describeSharpError(error)})`);
  }
  const base = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  return base.composite([{ input: mark, gravity: options.watermark_position ?? WATERMARK_DEFAULTS.position, tile: options.watermark_tiled ?? false }]);
}
