import yazl from 'yazl';
import { withoutBidiControls } from '../filenames.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Job } from '../db/schema.js';

export interface ArchiveEntry {
  /** Its name inside the zip: safe and unique (see entryNames). */
  name: string;
  key: string;
  bytes: number;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what names lose
const UNSAFE = /[\u0000-\u001f\u007f-\u009f/\\]/g;
const MAX_NAME_CHARACTERS = 200;

/** A name that is one plain file in any unzip tool: no directories, no control characters, never `.` or `..`. */
function safeName(raw: string): string {
  const cleaned = Array.from(withoutBidiControls(raw).replace(UNSAFE, '_').trim()).slice(-MAX_NAME_CHARACTERS).join('');
  return cleaned === '' || /^\.+$/.test(cleaned) ? 'file' : cleaned;
}

/**
 * Names for the entries of an archive, in order: each made safe, and made unique (ignoring
 * case, as Windows and macOS do) by a ` (2)`, ` (3)`… before its extension.
 */
export function entryNames(filenames: string[]): string[] {
  const taken = new Set<string>();
  return filenames.map((raw) => {
    const name = safeName(raw);
    const dot = name.lastIndexOf('.');
    const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let candidate = name;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${extension}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}

/**
 * A zip of `entries` read from the blob store as it is written: one blob open at a time,
 * stored without recompression (images are compressed already), so memory stays flat
 * however many entries there are and the size is known before the first byte.
 */
export function zipOfBlobs(blobs: BlobStore, entries: ArchiveEntry[], mtime: Date): { stream: NodeJS.ReadableStream; bytes: number | undefined } {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    zip.addReadStreamLazy(entry.name, { compress: false, size: entry.bytes, mtime }, (callback) => {
      try {
        callback(null, blobs.openReadStream(entry.key));
      } catch (error) {
        callback(error, undefined as never);
      }
    });
  }
  let bytes: number | undefined;
  // With every size given and nothing compressed, yazl answers the total while end() runs.
  // @types/yazl leaves out the callback's argument (yazl's README documents it).
  const end = zip.end.bind(zip) as (options: yazl.EndOptions, calculatedTotalSize: (bytes: number) => void) => void;
  end({ forceZip64Format: false, comment: '' }, (calculated) => {
    if (calculated >= 0) bytes = calculated;
  });
  return { stream: zip.outputStream, bytes };
}

/** True once an ended job is older than the archive retention (KILN_RETENTION_ARCHIVES): its archive is no longer served. */
export function isArchiveExpired(job: Job, archiveRetentionSeconds: number, now: Date = new Date()): boolean {
  return job.completed_at !== null && now.getTime() - job.completed_at.getTime() > archiveRetentionSeconds * 1000;
}
