import { createRequire } from 'node:module';
import { FreshInstances, type InstantiateOption } from './wasm-instances.js';

/**
 * PDF pages, rendered by PDFium (Chromium's PDF engine) built to WebAssembly by the
 * `@hyzyla/pdfium` package. It speaks PDFium's C API through the module's exports, as
 * src/convert/heic.ts does libheif's: a page's size is read without rendering it, and the
 * pixels leave the heap once.
 *
 * What a hostile PDF cannot do here: this PDFium has no JavaScript engine (no V8 is built
 * in), the WebAssembly module has no network and no file system beyond its own memory (a
 * link or a remote reference is only data to it), and fonts come from the fifteen PDFium
 * carries, so nothing is downloaded or read from the machine. A page that costs too much
 * to draw is stopped by the converter process's time limit and memory ceiling.
 */

/** The parts of PDFium's C API used here (Emscripten exports: pointers are heap offsets). */
interface Pdfium {
  HEAPU8: Uint8Array;
  HEAPF32: Float32Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _FPDF_InitLibrary(): void;
  _FPDF_LoadMemDocument(data: number, size: number, password: number): number;
  _FPDF_CloseDocument(document: number): void;
  _FPDF_GetLastError(): number;
  _FPDF_GetPageCount(document: number): number;
  _FPDF_GetPageSizeByIndexF(document: number, index: number, size: number): number;
  _FPDF_LoadPage(document: number, index: number): number;
  _FPDF_ClosePage(page: number): void;
  _FPDFBitmap_CreateEx(width: number, height: number, format: number, buffer: number, stride: number): number;
  _FPDFBitmap_FillRect(bitmap: number, left: number, top: number, width: number, height: number, color: number): void;
  _FPDFBitmap_Destroy(bitmap: number): void;
  _FPDF_RenderPageBitmap(bitmap: number, page: number, x: number, y: number, width: number, height: number, rotate: number, flags: number): void;
}

type PdfiumFactory = (option: InstantiateOption) => Promise<Pdfium>;

const require = createRequire(import.meta.url);

const instances = new FreshInstances<Pdfium>(
  () => require.resolve('@hyzyla/pdfium/pdfium.wasm'),
  async (option) => {
    const { PDFiumModule } = (await import('@hyzyla/pdfium')) as unknown as { PDFiumModule: PdfiumFactory };
    const pdfium = await PDFiumModule(option);
    pdfium._FPDF_InitLibrary();
    return pdfium;
  },
);

/** What PDFium said went wrong (FPDF_GetLastError). */
export class PdfError extends Error {
  override name = 'PdfError';
}

const LOAD_ERRORS: Record<number, string> = {
  1: 'unknown error',
  2: 'the file could not be read',
  3: 'not a PDF, or a damaged one',
  4: 'the document is encrypted with a password',
  5: 'the document uses an unsupported security handler',
  6: 'the page is missing or damaged',
};

/** Pixels 4 bytes each, in the order R, G, B, unused (BGRx with the bytes reversed). */
const FPDF_BITMAP_BGRX = 3;
const FPDF_ANNOT = 0x01;
const FPDF_REVERSE_BYTE_ORDER = 0x10;
const WHITE = 0xffffffff;

export interface PdfDocument {
  pages: number;
  /** Page `index`'s size in points (1/72 inch), as displayed (its rotation applied). */
  pageSize(index: number): { width: number; height: number };
  /** Page `index` drawn at `width` × `height` pixels on white: 8-bit RGB, rows packed, written after `offset` bytes of a new buffer. */
  render(index: number, width: number, height: number, offset: number): Buffer;
  close(): void;
}

/** Opens a PDF held in memory (nothing is drawn until `render`). */
export async function openPdf(input: Buffer): Promise<PdfDocument> {
  const pdfium = await instances.get();
  const allocated: number[] = [];
  const alloc = (size: number): number => {
    const pointer = pdfium._malloc(size);
    if (!pointer) throw new PdfError(`PDFium could not allocate ${size} bytes`);
    allocated.push(pointer);
    return pointer;
  };
  let document = 0;
  const close = (): void => {
    // After a trap the instance is dropped whole, heap and all: nothing in it is freed one by one.
    if (!instances.isCurrent(pdfium)) return;
    if (document) pdfium._FPDF_CloseDocument(document);
    for (const pointer of allocated) pdfium._free(pointer);
    instances.used(pdfium);
  };
  const guarded = <T>(work: () => T): T => {
    try {
      return work();
    } catch (failure) {
      if (!(failure instanceof PdfError)) instances.forget(pdfium);
      throw failure;
    }
  };
  try {
    // PDFium reads the document from this memory for as long as it is open.
    const data = alloc(input.length);
    pdfium.HEAPU8.set(input, data);
    document = guarded(() => pdfium._FPDF_LoadMemDocument(data, input.length, 0));
    if (!document) throw new PdfError(LOAD_ERRORS[pdfium._FPDF_GetLastError()] ?? 'the PDF could not be opened');
    const size = alloc(8);
    return {
      pages: pdfium._FPDF_GetPageCount(document),
      pageSize: (index) =>
        guarded(() => {
          if (!pdfium._FPDF_GetPageSizeByIndexF(document, index, size)) throw new PdfError(`page ${index} could not be read`);
          return { width: pdfium.HEAPF32[size >> 2]!, height: pdfium.HEAPF32[(size >> 2) + 1]! };
        }),
      render: (index, width, height, offset) => guarded(() => renderPage(pdfium, document, index, width, height, offset)),
      close,
    };
  } catch (failure) {
    close();
    if (!(failure instanceof PdfError)) instances.forget(pdfium);
    throw failure;
  }
}

function renderPage(pdfium: Pdfium, document: number, index: number, width: number, height: number, offset: number): Buffer {
  const page = pdfium._FPDF_LoadPage(document, index);
  if (!page) throw new PdfError(`page ${index} could not be read (${LOAD_ERRORS[pdfium._FPDF_GetLastError()] ?? 'unknown error'})`);
  const stride = width * 4;
  const pixels = pdfium._malloc(stride * height);
  let bitmap = 0;
  try {
    if (!pixels) throw new PdfError(`PDFium could not allocate ${stride * height} bytes for the page`);
    bitmap = pdfium._FPDFBitmap_CreateEx(width, height, FPDF_BITMAP_BGRX, pixels, stride);
    if (!bitmap) throw new PdfError('PDFium could not make the page bitmap');
    pdfium._FPDFBitmap_FillRect(bitmap, 0, 0, width, height, WHITE);
    pdfium._FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, FPDF_ANNOT | FPDF_REVERSE_BYTE_ORDER);
    // RGBx to RGB, straight out of the heap into the caller's buffer.
    const out = Buffer.allocUnsafe(offset + width * height * 3);
    const heap = pdfium.HEAPU8;
    for (let from = pixels, to = offset, end = pixels + stride * height; from < end; from += 4, to += 3) {
      out[to] = heap[from]!;
      out[to + 1] = heap[from + 1]!;
      out[to + 2] = heap[from + 2]!;
    }
    return out;
  } finally {
    if (bitmap) pdfium._FPDFBitmap_Destroy(bitmap);
    if (pixels) pdfium._free(pixels);
    pdfium._FPDF_ClosePage(page);
  }
}
