/**
 * An input that a decoder beside sharp read (HEIC, JPEG XL, PDF), handed to sharp as an
 * uncompressed TIFF, with what the conversion reports of the original.
 */
export interface DecodedInput {
  /** An uncompressed TIFF: the chosen image or page, or every frame of an animation kept as one (a page each). */
  image: Buffer;
  /** The original's format, as the conversion reports it. */
  format: 'heic' | 'jxl' | 'pdf';
  /** Images of a collection, frames of an animation or pages of a document. */
  pages: number;
  /** Present when `image` holds an animation's frames: their delays (ms) and how often it loops (0: for ever). */
  animation?: { delay?: number[]; loop?: number };
}
