import { createRequire } from 'node:module';
import { FreshInstances, type InstantiateOption } from './wasm-instances.js';

/**
 * HEVC-coded HEIF (HEIC, as phones take photos), decoded by libheif 1.23 with libde265,
 * built to WebAssembly by the `libheif-js` package: nothing from the system, and the same
 * decoder everywhere. sharp's own libheif decodes AV1 (AVIF) only, so sharp reads a HEIC's
 * header and this module its pixels.
 *
 * It speaks libheif's C API through the module's exported functions and its heap, which
 * gives what the package's JavaScript wrapper does not: the primary image and each image
 * of a collection, the ICC profile, and one copy of the pixels out of the heap. libheif
 * applies the file's rotation and mirroring (irot, imir) as it decodes, so the pixels come
 * out upright.
 *
 * Runs in the converter processes, where a decode that runs long or grows too large is
 * stopped by killing the process (the decode itself cannot be interrupted).
 */

/** The parts of libheif's C API used here (Emscripten exports: pointers are heap offsets). */
interface Libheif {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  HEAPU32: Uint32Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _heif_context_alloc(): number;
  _heif_context_free(context: number): void;
  _heif_context_set_maximum_image_size_limit(context: number, maxSide: number): void;
  _heif_context_read_from_memory_without_copy(error: number, context: number, data: number, size: number, options: number): void;
  _heif_context_get_number_of_top_level_images(context: number): number;
  _heif_context_get_list_of_top_level_image_IDs(context: number, ids: number, count: number): number;
  _heif_context_get_primary_image_ID(error: number, context: number, id: number): void;
  _heif_context_get_image_handle(error: number, context: number, id: number, handle: number): void;
  _heif_image_handle_release(handle: number): void;
  _heif_image_handle_get_width(handle: number): number;
  _heif_image_handle_get_height(handle: number): number;
  _heif_image_handle_has_alpha_channel(handle: number): number;
  _heif_image_handle_get_color_profile_type(handle: number): number;
  _heif_image_handle_get_raw_color_profile_size(handle: number): number;
  _heif_image_handle_get_raw_color_profile(error: number, handle: number, out: number): void;
  _heif_image_handle_get_nclx_color_profile(error: number, handle: number, out: number): void;
  _heif_nclx_color_profile_free(profile: number): void;
  _heif_decode_image(error: number, handle: number, image: number, colorspace: number, chroma: number, options: number): void;
  _heif_image_get_plane_readonly2(image: number, channel: number, stride: number): number;
  _heif_image_release(image: number): void;
  _heif_image_handle_get_item_id(handle: number): number;
  _heif_item_get_transformation_properties(context: number, item: number, out: number, count: number): number;
  _heif_image_handle_get_number_of_metadata_blocks(handle: number, type: number): number;
  _heif_image_handle_get_list_of_metadata_block_IDs(handle: number, type: number, ids: number, count: number): number;
  _heif_image_handle_get_metadata_size(handle: number, id: number): number;
  _heif_image_handle_get_metadata(error: number, handle: number, id: number, out: number): void;
}

type LibheifFactory = (option: InstantiateOption) => Libheif;

const require = createRequire(import.meta.url);

/** Instances of libheif, each with a heap of its own, made afresh once one grew large (src/convert/wasm-instances.ts). */
const instances = new FreshInstances<Libheif>(
  () => require.resolve('libheif-js/libheif-wasm/libheif.wasm'),
  (option) => (require('libheif-js/libheif-wasm/libheif.js') as LibheifFactory)(option),
);

/** What libheif said went wrong. */
export class HeifError extends Error {
  constructor(
    readonly code: number,
    readonly subcode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HeifError';
  }
}

/** libheif's `heif_suberror_Security_limit_exceeded`: the file claims more than its limits allow. */
export const SECURITY_LIMIT_EXCEEDED = 1000;

const HEIF_COLORSPACE_RGB = 1;
const HEIF_CHROMA_INTERLEAVED_RGB = 10;
const HEIF_CHROMA_INTERLEAVED_RGBA = 11;
const HEIF_CHANNEL_INTERLEAVED = 10;
const fourcc = (text: string): number => (text.charCodeAt(0) << 24) | (text.charCodeAt(1) << 16) | (text.charCodeAt(2) << 8) | text.charCodeAt(3);
const ICC_PROFILES = new Set([fourcc('prof'), fourcc('rICC')]);
const NCLX = fourcc('nclx');
/** ITU-T H.273 colour primaries of Display P3 (SMPTE EG 432-1), which iPhones use. */
const PRIMARIES_DISPLAY_P3 = 12;

/** An image of the file: its size once upright, before any pixel is decoded. */
export interface HeicImage {
  width: number;
  height: number;
  alpha: boolean;
  /** The embedded ICC profile; `display-p3` for an nclx profile naming those primaries; none for sRGB. */
  profile: Buffer | 'display-p3' | undefined;
  /**
   * The EXIF orientation (1–8) still to apply once decoded. libheif applies the file's own
   * rotation and mirroring (irot, imir), which HEIF makes the normative ones, so an image
   * with either is upright as decoded and its EXIF orientation (an iPhone writes both) is
   * not applied again; an image with neither (heif-enc before 1.17 left a JPEG's
   * orientation in EXIF alone) takes its EXIF orientation.
   */
  orientation: number;
}

export interface HeicFile {
  /** Top-level images, in the file's order (a collection's `page`s). */
  images: number;
  /** The index of the primary image among them. */
  primary: number;
  /** The image at `index`, read from its header. */
  image(index: number): HeicImage;
  /** The image at `index`, decoded: interleaved 8-bit RGB or RGBA, rows packed, written after `offset` bytes of a new buffer. */
  decode(index: number, offset: number): Buffer;
  close(): void;
}

/**
 * Opens a HEIC file held in memory. `maxSide` is libheif's own bound on a width or height,
 * which it applies while parsing (grids, overlays and all), beside Kiln's pixel limit that
 * the caller checks on `image()` before decoding.
 */
export async function openHeic(input: Buffer, maxSide: number): Promise<HeicFile> {
  const heif = await instances.get();
  const allocated: number[] = [];
  const alloc = (size: number): number => {
    const pointer = heif._malloc(size);
    if (!pointer) throw new HeifError(6, 0, `libheif could not allocate ${size} bytes`);
    allocated.push(pointer);
    return pointer;
  };
  const error = alloc(16);
  const word = alloc(4);
  const check = (what: string): void => {
    const code = heif.HEAP32[error >> 2]!;
    if (code === 0) return;
    const subcode = heif.HEAP32[(error >> 2) + 1]!;
    const text = cString(heif, heif.HEAPU32[(error >> 2) + 2]!);
    throw new HeifError(code, subcode, `${what}: ${text}`);
  };
  const context = heif._heif_context_alloc();
  const handles = new Map<number, number>();
  const close = (): void => {
    // After a trap the instance is dropped whole, heap and all: nothing in it is freed one by one.
    if (!instances.isCurrent(heif)) return;
    for (const handle of handles.values()) heif._heif_image_handle_release(handle);
    heif._heif_context_free(context);
    for (const pointer of allocated) heif._free(pointer);
    instances.used(heif);
  };
  try {
    heif._heif_context_set_maximum_image_size_limit(context, maxSide);
    const data = alloc(input.length);
    heif.HEAPU8.set(input, data);
    heif._heif_context_read_from_memory_without_copy(error, context, data, input.length, 0);
    check('the HEIF file could not be read');
    const count = heif._heif_context_get_number_of_top_level_images(context);
    const idList = alloc(4 * Math.max(1, count));
    heif._heif_context_get_list_of_top_level_image_IDs(context, idList, count);
    const ids = Array.from(heif.HEAPU32.subarray(idList >> 2, (idList >> 2) + count));
    heif._heif_context_get_primary_image_ID(error, context, word);
    check('the HEIF file has no primary image');
    const primary = Math.max(0, ids.indexOf(heif.HEAPU32[word >> 2]!));

    const handleOf = (index: number): number => {
      let handle = handles.get(index);
      if (handle === undefined) {
        heif._heif_context_get_image_handle(error, context, ids[index]!, word);
        check(`image ${index} could not be read`);
        handle = heif.HEAPU32[word >> 2]!;
        handles.set(index, handle);
      }
      return handle;
    };
    const decodeImage = (index: number, offset: number): Buffer => {
      const handle = handleOf(index);
      const alpha = heif._heif_image_handle_has_alpha_channel(handle) !== 0;
      heif._heif_decode_image(error, handle, word, HEIF_COLORSPACE_RGB, alpha ? HEIF_CHROMA_INTERLEAVED_RGBA : HEIF_CHROMA_INTERLEAVED_RGB, 0);
      check(`image ${index} could not be decoded`);
      const image = heif.HEAPU32[word >> 2]!;
      try {
        const width = heif._heif_image_handle_get_width(handle);
        const height = heif._heif_image_handle_get_height(handle);
        const row = width * (alpha ? 4 : 3);
        const plane = heif._heif_image_get_plane_readonly2(image, HEIF_CHANNEL_INTERLEAVED, word);
        const stride = heif.HEAPU32[word >> 2]!;
        const pixels = Buffer.allocUnsafe(offset + row * height);
        if (stride === row) pixels.set(heif.HEAPU8.subarray(plane, plane + row * height), offset);
        else for (let y = 0; y < height; y++) pixels.set(heif.HEAPU8.subarray(plane + y * stride, plane + y * stride + row), offset + y * row);
        return pixels;
      } finally {
        heif._heif_image_release(image);
      }
    };
    return {
      images: count,
      primary,
      image(index) {
        const handle = handleOf(index);
        return {
          width: heif._heif_image_handle_get_width(handle),
          height: heif._heif_image_handle_get_height(handle),
          alpha: heif._heif_image_handle_has_alpha_channel(handle) !== 0,
          profile: profileOf(heif, handle, error, word, alloc, check),
          orientation: orientationOf(heif, context, handle, error, alloc, check),
        };
      },
      decode(index, offset) {
        try {
          return decodeImage(index, offset);
        } catch (failure) {
          if (!(failure instanceof HeifError)) instances.forget(heif);
          throw failure;
        }
      },
      close,
    };
  } catch (failure) {
    close();
    if (!(failure instanceof HeifError)) instances.forget(heif);
    throw failure;
  }
}

/** The EXIF orientation to apply after decoding: none (1) when the file rotates or mirrors the image itself. */
function orientationOf(heif: Libheif, context: number, handle: number, error: number, alloc: (size: number) => number, check: (what: string) => void): number {
  const transforms = alloc(4 * 8);
  if (heif._heif_item_get_transformation_properties(context, heif._heif_image_handle_get_item_id(handle), transforms, 8) > 0) return 1;
  const type = alloc(5);
  heif.HEAPU8.set(Buffer.from('Exif\0', 'latin1'), type);
  const count = heif._heif_image_handle_get_number_of_metadata_blocks(handle, type);
  if (count === 0) return 1;
  const ids = alloc(4 * count);
  heif._heif_image_handle_get_list_of_metadata_block_IDs(handle, type, ids, count);
  const id = heif.HEAPU32[ids >> 2]!;
  const size = heif._heif_image_handle_get_metadata_size(handle, id);
  if (size < 4 || size > 1024 * 1024) return 1;
  const out = alloc(size);
  heif._heif_image_handle_get_metadata(error, handle, id, out);
  check('the EXIF block could not be read');
  const block = Buffer.from(heif.HEAPU8.subarray(out, out + size));
  // HEIF's Exif block begins with the offset of the TIFF header after its first four bytes.
  return exifOrientation(block.subarray(4 + block.readUInt32BE(0)));
}

/** The Orientation tag (0x0112) of IFD0 of a TIFF-structured EXIF block; 1 when absent or out of range. */
export function exifOrientation(tiff: Buffer): number {
  if (tiff.length < 8) return 1;
  const little = tiff.toString('latin1', 0, 2) === 'II';
  if (!little && tiff.toString('latin1', 0, 2) !== 'MM') return 1;
  const u16 = (at: number): number => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number): number => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return 1;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    if (at + 12 > tiff.length) return 1;
    if (u16(at) === 0x0112) {
      const value = u16(at + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** A NUL-terminated UTF-8 string on the heap (libheif's error messages). */
function cString(heif: Libheif, pointer: number): string {
  if (!pointer) return 'no message';
  const end = heif.HEAPU8.indexOf(0, pointer);
  return Buffer.from(heif.HEAPU8.subarray(pointer, end < 0 ? pointer + 256 : end)).toString('utf8');
}

function profileOf(
  heif: Libheif,
  handle: number,
  error: number,
  word: number,
  alloc: (size: number) => number,
  check: (what: string) => void,
): HeicImage['profile'] {
  const type = heif._heif_image_handle_get_color_profile_type(handle);
  if (ICC_PROFILES.has(type)) {
    const size = heif._heif_image_handle_get_raw_color_profile_size(handle);
    if (size === 0) return undefined;
    const out = alloc(size);
    heif._heif_image_handle_get_raw_color_profile(error, handle, out);
    check('the ICC profile could not be read');
    return Buffer.from(heif.HEAPU8.subarray(out, out + size));
  }
  if (type === NCLX) {
    heif._heif_image_handle_get_nclx_color_profile(error, handle, word);
    check('the colour profile could not be read');
    const profile = heif.HEAPU32[word >> 2]!;
    // struct heif_color_profile_nclx: version (u8), then color_primaries (enum, 4-byte aligned).
    const primaries = heif.HEAP32[(profile >> 2) + 1]!;
    heif._heif_nclx_color_profile_free(profile);
    return primaries === PRIMARIES_DISPLAY_P3 ? 'display-p3' : undefined;
  }
  return undefined;
}
