import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type VipsModule from 'wasm-vips';

/**
 * JPEG XL, read and written by libjxl 0.12 inside libvips 8.18, both built to WebAssembly
 * (with SIMD and threads) by the `wasm-vips` package: nothing from the system, and the
 * same codec everywhere. sharp's own libvips has no JPEG XL.
 *
 * Measured on a 2560×1600 photo (docs/architecture.md): this build decodes in 0.17 s, the
 * scalar build in `@jsquash/jxl` in about 1 s and native `djxl` in 0.07 s; it reads the
 * header alone, so a file's size is known before any pixel is decoded.
 *
 * The decoded image goes to sharp as an uncompressed TIFF written by this libvips (ICC
 * profile, orientation, bit depth, alpha and an animation's frames all carried), and
 * every operation and the conversion to sRGB stay sharp's. Output in JPEG XL goes the
 * other way: sharp's finished pixels, encoded here.
 *
 * Runs in the converter processes. Its heap, like any WebAssembly heap, never shrinks, and
 * its threads keep it alive: the pool retires a process that a conversion left large
 * (src/convert/converter-pool.ts) rather than letting it carry the memory into the next.
 */

type Vips = Awaited<ReturnType<typeof VipsModule>>;
type VipsImage = InstanceType<Vips['Image']>;

const require = createRequire(import.meta.url);
let loading: Promise<Vips> | undefined;

function libvips(): Promise<Vips> {
  loading ??= (async () => {
    const factory = require('wasm-vips') as typeof VipsModule;
    const directory = dirname(require.resolve('wasm-vips/vips.wasm'));
    const vips = await factory({
      dynamicLibraries: ['vips-jxl.wasm'],
      locateFile: (file: string) => `${directory}/${file}`,
      // libvips' warnings about a file go to stderr otherwise; the refusal carries what matters.
      printErr: () => {},
    });
    // Only JPEG XL is read here: every other loader stays shut.
    vips.operationBlock('VipsForeignLoad', true);
    vips.operationBlock('VipsForeignLoadJxl', false);
    // One thread per converter process: the pool already runs one process per core.
    vips.concurrency(1);
    vips.Cache.max(0);
    return vips;
  })();
  return loading;
}

/** A JPEG XL file as its header tells it, before any pixel is decoded. */
export interface JxlHeader {
  width: number;
  height: number;
  /** Frames of an animation; 1 for a still. */
  frames: number;
  /** Each frame's delay in milliseconds, for an animation. */
  delay?: number[];
  /** Times an animation plays; 0 is for ever. */
  loop?: number;
}

/** What libvips (or libjxl beneath it) said of a file it could not read. */
export class JxlError extends Error {
  override name = 'JxlError';
}

async function open<T>(input: Buffer, options: { page?: number; n?: number }, use: (image: VipsImage, vips: Vips) => T): Promise<T> {
  const vips = await libvips();
  let image: VipsImage | undefined;
  try {
    image = vips.Image.jxlloadBuffer(input, { ...options, fail_on: 'truncated' });
    return use(image, vips);
  } catch (error) {
    throw new JxlError(vipsMessage(error), { cause: error });
  } finally {
    image?.delete();
  }
}

/**
 * libvips' own words for the failure. wasm-vips throws a WebAssembly exception whose
 * `message` is a pair, the C++ type and its text ("unable to call jxlload_buffer\n
 * jxlload_buffer: error JxlDecoderProcessInput"); the last line says what went wrong.
 */
function vipsMessage(error: unknown): string {
  const message: unknown = (error as { message?: unknown } | undefined)?.message;
  const text = Array.isArray(message) ? String(message[1] ?? message[0]) : String(message ?? error);
  return text.trim().split('\n').at(-1)!.trim();
}

/** Reads the header: the size, and an animation's frames, delays and loop. */
export function readJxlHeader(input: Buffer): Promise<JxlHeader> {
  return open(input, {}, (image) => {
    const frames = image.getTypeof('n-pages') ? image.getInt('n-pages') : 1;
    if (frames <= 1) return { width: image.width, height: image.height, frames: 1 };
    const delay = image.getTypeof('delay') ? [...image.getArrayInt('delay')] : undefined;
    const loop = image.getTypeof('loop') ? image.getInt('loop') : undefined;
    return { width: image.width, height: image.height, frames, ...(delay ? { delay } : {}), ...(loop !== undefined ? { loop } : {}) };
  });
}

/**
 * Decodes frame `page` (the first without it), or every frame with `page: 'all'`, to an
 * uncompressed TIFF (one page per frame).
 */
export function decodeJxl(input: Buffer, page: number | 'all'): Promise<Buffer> {
  return open(input, page === 'all' ? { n: -1 } : { page }, (image) => Buffer.from(image.tiffsaveBuffer({ compression: 'none', keep: 'icc' })));
}

export interface JxlEncoding {
  quality?: number;
  effort?: number;
  lossless?: boolean;
}

/**
 * The default quality: 90 is libjxl's distance 1.0 (its mapping is 0.1 + (100 − q) × 0.09
 * from 30 up), cjxl's own default and about visually lossless. libvips' default, 75, is
 * distance 2.35.
 */
export const JXL_DEFAULT_QUALITY = 90;

/** Encodes 8-bit sRGB pixels (3 or 4 channels, rows packed) as JPEG XL. */
export async function encodeJxl(pixels: Buffer, size: { width: number; height: number; channels: number }, encoding: JxlEncoding): Promise<Buffer> {
  const vips = await libvips();
  let image: VipsImage | undefined;
  let tagged: VipsImage | undefined;
  try {
    image = vips.Image.newFromMemory(pixels, size.width, size.height, size.channels, vips.BandFormat.uchar);
    tagged = image.copy({ interpretation: size.channels <= 2 ? 'b-w' : 'srgb' });
    return Buffer.from(
      tagged.jxlsaveBuffer({
        Q: encoding.quality ?? JXL_DEFAULT_QUALITY,
        ...(encoding.effort !== undefined ? { effort: encoding.effort } : {}),
        lossless: encoding.lossless ?? false,
        keep: 'none',
      }),
    );
  } catch (error) {
    throw new Error(`JPEG XL encoding failed: ${vipsMessage(error)}`, { cause: error });
  } finally {
    tagged?.delete();
    image?.delete();
  }
}
