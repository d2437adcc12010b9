import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { finished, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Context } from 'koa';
import { randomAlnum } from '../ids.js';
import { ApiError } from '../problem.js';
import { isStoreFull, StorageFullError, StorageUnavailableError } from '../storage/blob-store.js';
import { SNIFF_BYTES } from '../convert/sniff.js';
import { safeFilename } from '../filenames.js';
import type { IncomingFile } from '../intake/files.js';
import { hasNul } from '../safe-input.js';

/** A file spooled to local disk; the caller has it accepted (imported into the blob store) or calls `discard`. */
export interface SpooledFile extends IncomingFile {
  /** SHA-256 of the file, hex: what makes two uploads the same file (hashed only when asked: an Idempotency-Key needs it). */
  sha256: string | undefined;
}

export interface ReceivedUpload<T> {
  /** What `parseFields` made of the non-file fields. */
  fields: T;
  /** The non-file fields as sent (the raw style's `filename` included). */
  rawFields: Readonly<Record<string, string>>;
  /** The first file (the only one a conversion takes). */
  file: SpooledFile | undefined;
  /** Every file, in the order sent (several only where `maxFiles` allows them). */
  files: SpooledFile[];
  discard(): Promise<void>;
}

/** Where and how much an upload may spool. */
export interface SpoolLimits {
  dir: string;
  /** Bytes one file may have (413 file_too_large past it). */
  maxBytes: number;
  /** Hash each file (an Idempotency-Key needs it). */
  hashed: boolean;
  /** Files one multipart body may carry, all as `file` fields (default 1: a second answers unexpected_file). */
  maxFiles?: number;
  /** Bytes all the files together may have (413 upload_too_large past it). */
  maxTotalBytes?: number;
}

/** Validates the non-file fields; throws an ApiError to refuse the upload. */
export type FieldParser<T> = (fields: Record<string, string>) => T | Promise<T>;

/** Fields one multipart body may carry: more than any request of Kiln's has (each field may be given once). */
export const MAX_FIELDS = 64;
const MAX_FIELD_BYTES = 64 * 1024;
const MAX_CONTENT_TYPE_LENGTH = 255;
const SPOOL_PREFIX = 'upload-';

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'file_too_large', `the file is larger than the ${maxBytes}-byte limit (KILN_MAX_UPLOAD_BYTES)`, {
    limit_bytes: maxBytes,
  });
}

function allTooLarge(maxTotalBytes: number): ApiError {
  return new ApiError(413, 'upload_too_large', `the files together are larger than the ${maxTotalBytes}-byte limit (KILN_MAX_JOB_BYTES)`, {
    limit_bytes: maxTotalBytes,
  });
}

/** Bytes the files of one upload have spooled so far, against their shared limit. */
interface TotalBudget {
  used: number;
  max: number;
}

function invalidMultipart(error: unknown): ApiError {
  return new ApiError(400, 'invalid_multipart', `the multipart body could not be read: ${(error as Error).message}`);
}

function tooManyFiles(maxFiles: number): ApiError {
  return maxFiles === 1
    ? new ApiError(400, 'unexpected_file', 'send exactly one file, as the "file" field')
    : new ApiError(400, 'too_many_files', `send at most ${maxFiles} files, each as a "file" field (KILN_MAX_JOB_FILES)`, { limit_files: maxFiles });
}

function uploadAborted(): ApiError {
  return new ApiError(400, 'upload_aborted', 'the client closed the connection before the upload ended');
}

/** Counts (and hashes, given a hash) the bytes through a stream, and fails it once past `maxBytes` or the shared `total`. */
function byteLimiter(maxBytes: number, total: TotalBudget | undefined, hash: Hash | undefined, onBytes: (n: number) => void, head: Buffer[]): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (seen < SNIFF_BYTES) head.push(chunk.subarray(0, SNIFF_BYTES - seen));
      seen += chunk.length;
      onBytes(seen);
      if (seen > maxBytes) return callback(tooLarge(maxBytes));
      if (total && (total.used += chunk.length) > total.max) return callback(allTooLarge(total.max));
      hash?.update(chunk);
      callback(null, chunk);
    },
  });
}

/** A content type as the client declared it, when it is a plausible one; it is only echoed back. */
function safeContentType(raw: string | undefined): string | undefined {
  if (!raw || raw.length > MAX_CONTENT_TYPE_LENGTH || !/^[\x20-\x7e]+$/.test(raw)) return undefined;
  return raw;
}

/** A field name and value as the API will parse them; NUL is refused here so nothing downstream ever sees it. */
function checkedField(name: string, value: string): void {
  if (hasNul(name) || hasNul(value)) throw new ApiError(400, 'invalid_options', `field ${JSON.stringify(name.replaceAll('\u0000', ''))} must not contain NUL`);
}

/** How much of an upload may wait in memory for the spool file's writes. */
const SPOOL_BUFFER_BYTES = 1024 * 1024;

/**
 * Writes `source` to a new temp file; past `maxBytes` it fails with file_too_large. On any
 * failure the file is closed and removed before this rejects.
 */
async function spoolTo(
  source: Readable,
  dir: string,
  maxBytes: number,
  hashed: boolean,
  total?: TotalBudget,
): Promise<{ path: string; bytes: number; sha256: string | undefined; head: Buffer }> {
  const target = path.join(dir, `${SPOOL_PREFIX}${Date.now()}-${randomAlnum(10)}`);
  let bytes = 0;
  const head: Buffer[] = [];
  const hash = hashed ? createHash('sha256') : undefined;
  // Chunks arrive as the socket reads them (16–64 KB): a deep buffer lets the queued ones
  // go down in one writev while a write is in flight, instead of a write call each.
  const sink = createWriteStream(target, { highWaterMark: SPOOL_BUFFER_BYTES });
  const limiter = byteLimiter(maxBytes, total, hash, (n) => (bytes = n), head);
  // Not pipeline(source, …): that would destroy the source on a refusal, and with it the
  // connection the refusal has to travel back on. The caller discards what is left of it.
  const stopWatching = finished(source, { writable: false }, (error) => {
    if (error) limiter.destroy(error);
  });
  source.pipe(limiter);
  try {
    await pipeline(limiter, sink);
  } catch (error) {
    source.unpipe(limiter);
    // The file is opened asynchronously: removing it before the stream has closed could
    // run before the open and leave an empty file (and a handle) behind.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    await rm(target, { force: true });
    if (isStoreFull(error)) throw new StorageFullError(`the upload spool is out of space: ${(error as Error).message}`, { cause: error });
    throw error;
  } finally {
    stopWatching();
  }
  return { path: target, bytes, sha256: hash?.digest('hex'), head: Buffer.concat(head) };
}

/**
 * Reads an upload in either style Kiln accepts and spools the file to `spoolDir`:
 * - `multipart/form-data` with a `file` part and options as other fields;
 * - the raw file as the body, options as query parameters, `filename` naming it.
 * Raw uploads have their fields checked before the body is read; multipart ones once the
 * body has been parsed. Nothing is kept if reading or checking fails, or the client goes away.
 */
export async function receiveUpload<T>(ctx: Context, spool: SpoolLimits, parseFields: FieldParser<T>): Promise<ReceivedUpload<T>> {
  await mkdir(spool.dir, { recursive: true });
  if (ctx.is('multipart/form-data')) return receiveMultipart(ctx, spool, parseFields);
  const { maxBytes } = spool;

  const declared = Number(ctx.get('content-length') || NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const fields = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(ctx.query)) {
    if (typeof value !== 'string') throw new ApiError(400, 'invalid_options', `query parameter ${key} was given more than once`);
    checkedField(key, value);
    fields[key] = value;
  }
  const rawFields = { ...fields };
  const filename = safeFilename(fields.filename, 'upload');
  delete fields.filename;
  const parsed = await parseFields(fields);
  const spooled = await spoolTo(ctx.req, spool.dir, maxBytes, spool.hashed).catch((error: unknown) => {
    // Kiln's own refusals stand; anything else cut short was the client going away.
    throw ctx.req.complete || error instanceof ApiError || error instanceof StorageUnavailableError ? error : uploadAborted();
  });
  const file: SpooledFile = { ...spooled, filename, contentType: safeContentType(ctx.get('content-type')) };
  return { fields: parsed, rawFields, file, files: [file], discard: () => rm(file.path, { force: true }) };
}

function receiveMultipart<T>(ctx: Context, spool: SpoolLimits, parseFields: FieldParser<T>): Promise<ReceivedUpload<T>> {
  const { dir: spoolDir, maxBytes, hashed } = spool;
  const maxFiles = spool.maxFiles ?? 1;
  const total = spool.maxTotalBytes === undefined ? undefined : { used: 0, max: spool.maxTotalBytes };
  return new Promise((resolve, reject) => {
    // No prototype: a field named __proto__ or constructor is just an unknown field.
    const fields = Object.create(null) as Record<string, string>;
    // By position in the body, whatever order their spooling ends in.
    const files: Array<SpooledFile | undefined> = [];
    let failure: Error | undefined;
    let finishing = false;
    const pending: Promise<void>[] = [];
    const fileStreams: Readable[] = [];
    const discard = async (): Promise<void> => {
      await Promise.all(files.flatMap((file) => (file ? [rm(file.path, { force: true })] : [])));
    };
    /**
     * The first refusal ends the reading: the answer goes out at once, whatever is left of the
     * body is the app's to discard (discardUnreadBody), and the parts still spooling are ended,
     * which closes and removes their files.
     */
    const fail = (error: unknown): void => {
      if (failure) return;
      // Everything that reaches here is an Error (ApiError, stream and fs errors); the check keeps it honest.
      failure = error instanceof Error ? error : new Error(inspect(error));
      if (finishing) return;
      ctx.req.unpipe(parser);
      for (const stream of fileStreams) stream.destroy(failure);
      void finish();
    };

    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: ctx.req.headers,
        // Filenames in plain `filename="…"` parameters are UTF-8 in every current browser and HTTP client.
        defParamCharset: 'utf8',
        // One byte past the limit lets the limiter in spoolTo() tell "exactly at" from "over" the limit.
        limits: { files: maxFiles, fileSize: maxBytes + 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_FIELDS + maxFiles },
      });
    } catch (error) {
      reject(invalidMultipart(error));
      return;
    }

    // busboy passes no name at all for `name=""`, whatever its types say.
    const unnamed = (): ApiError => new ApiError(400, 'invalid_multipart', 'every part of the multipart body needs a non-empty name');
    parser.on('field', (name: string | undefined, value, info) => {
      try {
        if (!name) throw unnamed();
        checkedField(name, value);
        if (info.valueTruncated) throw new ApiError(400, 'invalid_options', `field ${name} is too long`);
        if (Object.hasOwn(fields, name)) throw new ApiError(400, 'invalid_options', `field ${name} was given more than once`);
        fields[name] = value;
      } catch (error) {
        fail(error);
      }
    });
    parser.on('file', (name: string | undefined, stream, info) => {
      // busboy can still hand over parts it had parsed after an error ended the upload: nobody
      // would discard what they spooled, so they are drained, never written.
      if (finishing) {
        stream.resume();
        return;
      }
      // Listen at once: busboy can fail the stream (a body cut short) before spoolTo() attaches.
      let sourceError: unknown;
      stream.on('error', (error) => (sourceError ??= error));
      fileStreams.push(stream);
      if (name !== 'file') {
        fail(name ? new ApiError(400, 'unexpected_file', `unexpected file field "${name}"; send the image as "file"`) : unnamed());
        return;
      }
      if (pending.length >= maxFiles) {
        fail(tooManyFiles(maxFiles));
        return;
      }
      const position = pending.length;
      pending.push(
        spoolTo(stream, spoolDir, maxBytes, hashed, total).then(
          (spooled) => {
            files[position] = { ...spooled, filename: safeFilename(info.filename, 'upload'), contentType: safeContentType(info.mimeType) };
          },
          (error) => {
            if (sourceError !== undefined) fail(sourceError instanceof ApiError ? sourceError : invalidMultipart(sourceError));
            else fail(error);
          },
        ),
      );
    });
    parser.on('filesLimit', () => fail(tooManyFiles(maxFiles)));
    parser.on('fieldsLimit', () => fail(new ApiError(400, 'invalid_options', `too many fields (at most ${MAX_FIELDS})`)));
    parser.on('partsLimit', () => fail(new ApiError(400, 'invalid_options', 'too many parts in the multipart body')));
    parser.on('error', (error) => fail(invalidMultipart(error)));
    parser.on('close', () => void finish());
    // A client that goes away mid-body: busboy is never told.
    ctx.req.once('close', () => {
      if (!ctx.req.complete) fail(uploadAborted());
    });

    async function finish(): Promise<void> {
      if (finishing) return;
      finishing = true;
      await Promise.allSettled(pending);
      let parsed: T | undefined;
      if (!failure) {
        try {
          parsed = await parseFields(fields);
        } catch (error) {
          fail(error);
        }
      }
      if (failure) {
        await discard();
        reject(failure);
      } else {
        const spooled = files.filter((file) => file !== undefined);
        resolve({ fields: parsed as T, rawFields: fields, file: spooled[0], files: spooled, discard });
      }
    }

    ctx.req.pipe(parser);
  });
}
