import { sniffImage } from '../convert/sniff.js';
import { ApiError } from '../problem.js';

/** A file a client sent, spooled to local disk by the API before it is accepted. */
export interface IncomingFile {
  /** Local temp file; accepting imports it into the blob store. */
  path: string;
  filename: string;
  bytes: number;
  contentType: string | undefined;
  /** The file's first bytes, for a look at its format before it is accepted. */
  head: Buffer;
}

/**
 * Refuses, before anything is stored, files that cannot become conversions: none at all
 * (400 file_required, with `missing` saying how to send one), an empty one (400
 * empty_file), or one whose first bytes are no image format Kiln reads (415
 * unsupported_input, naming what it looks like and, of several, which).
 */
export function checkIncomingFiles(files: readonly IncomingFile[], missing: string): void {
  if (files.length === 0) throw new ApiError(400, 'file_required', missing);
  const several = files.length > 1;
  files.forEach((file, index) => {
    const which = several ? `file ${index} (${file.filename})` : 'the file';
    if (file.bytes === 0) throw new ApiError(400, 'empty_file', `${several ? which : 'the uploaded file'} is empty`, several ? { index } : {});
    const sniffed = sniffImage(file.head);
    if (sniffed.image) return;
    throw new ApiError(
      415,
      'unsupported_input',
      `${which} looks like ${sniffed.looksLike}; Kiln reads JPEG, PNG, WebP, GIF, AVIF, HEIC, JPEG XL, TIFF, SVG and PDF`,
      several ? { index, filename: file.filename } : { filename: file.filename },
    );
  });
}
