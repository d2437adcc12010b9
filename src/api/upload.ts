import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Context } from 'koa';
import { randomAlnum } from '../ids.js';
import { ApiError } from './problem.js';

export interface SpooledFile {
  /** Local temp file; the caller imports it into the blob store or calls `discard`. */
  path: string;
  filename: string;
  bytes: number;
  contentType: string | undefined;
}

export interface ReceivedUpload<T> {
  /** What `parseFields` made of the non-file fields. */
  fields: T;
  file: SpooledFile | undefined;
  discard(): Promise<void>;
}

/** Validates the non-file fields; throws an ApiError to refuse the upload. */
export type FieldParser<T> = (fields: Record<string, string>) => T;

const MAX_FIELDS = 32;
const MAX_FIELD_BYTES = 64 * 1024;

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'file_too_large', `the file is larger than the ${maxBytes}-byte limit (KILN_MAX_UPLOAD_BYTES)`, {
    limit_bytes: maxBytes,
  });
}

/** Counts bytes through a stream and fails it once past `maxBytes`. */
function byteLimiter(maxBytes: number, onBytes: (n: number) => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      onBytes(seen);
      if (seen > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
}

function safeFilename(raw: string | undefined): string {
  const base = path.basename((raw ?? '').replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base.slice(0, 255) || 'upload';
}

/** Writes `source` to a new temp file; past `maxBytes` it fails with file_too_large and removes the file. */
async function spool(source: Readable, dir: string, maxBytes: number): Promise<{ path: string; bytes: number }> {
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, `upload-${Date.now()}-${randomAlnum(10)}`);
  let bytes = 0;
  try {
    await pipeline(source, byteLimiter(maxBytes, (n) => (bytes = n)), createWriteStream(target));
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
  return { path: target, bytes };
}

/**
 * Reads an upload in either style Kiln accepts and spools the file to `spoolDir`:
 * - `multipart/form-data` with a `file` part and options as other fields;
 * - the raw file as the body, options as query parameters, `filename` naming it.
 * Raw uploads have their fields checked before the body is read; multipart ones once the
 * body has been parsed. Nothing is kept if reading or checking fails.
 */
export async function receiveUpload<T>(ctx: Context, spoolDir: string, maxBytes: number, parseFields: FieldParser<T>): Promise<ReceivedUpload<T>> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (ctx.is('multipart/form-data')) return receiveMultipart(ctx, spoolDir, maxBytes, parseFields);

  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(ctx.query)) {
    if (typeof value !== 'string') throw new ApiError(400, 'invalid_options', `query parameter ${key} was given more than once`);
    fields[key] = value;
  }
  const filename = safeFilename(fields.filename);
  delete fields.filename;
  const parsed = parseFields(fields);
  const spooled = await spool(ctx.req, spoolDir, maxBytes);
  const file: SpooledFile = { ...spooled, filename, contentType: ctx.get('content-type') || undefined };
  return { fields: parsed, file, discard: () => rm(file.path, { force: true }) };
}

function receiveMultipart<T>(ctx: Context, spoolDir: string, maxBytes: number, parseFields: FieldParser<T>): Promise<ReceivedUpload<T>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    let file: SpooledFile | undefined;
    let failure: unknown;
    const pending: Promise<void>[] = [];
    const discard = async (): Promise<void> => {
      if (file) await rm(file.path, { force: true });
    };
    const fail = (error: unknown): void => {
      failure ??= error;
    };

    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: ctx.req.headers,
        // One byte past the limit lets the limiter in spool() tell "exactly at" from "over" the limit,
        // while busboy keeps draining the body so the client still gets an answer.
        limits: { files: 1, fileSize: maxBytes + 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_FIELDS + 1 },
      });
    } catch (error) {
      reject(new ApiError(400, 'invalid_multipart', `the multipart body could not be read: ${(error as Error).message}`));
      return;
    }

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new ApiError(400, 'invalid_options', `field ${name} is too long`));
      else if (name in fields) fail(new ApiError(400, 'invalid_options', `field ${name} was given more than once`));
      else fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file') {
        fail(new ApiError(400, 'unexpected_file', `unexpected file field "${name}"; send the image as "file"`));
        stream.resume();
        return;
      }
      if (pending.length > 0) {
        fail(new ApiError(400, 'unexpected_file', 'send exactly one file, as the "file" field'));
        stream.resume();
        return;
      }
      pending.push(
        spool(stream, spoolDir, maxBytes).then(
          (spooled) => {
            file = { ...spooled, filename: safeFilename(info.filename), contentType: info.mimeType || undefined };
          },
          (error) => {
            // The limiter stopped reading; keep draining so busboy reaches the end of the body.
            stream.resume();
            fail(error);
          },
        ),
      );
    });
    parser.on('filesLimit', () => fail(new ApiError(400, 'unexpected_file', 'send exactly one file, as the "file" field')));
    parser.on('fieldsLimit', () => fail(new ApiError(400, 'invalid_options', `too many fields (at most ${MAX_FIELDS})`)));
    parser.on('partsLimit', () => fail(new ApiError(400, 'invalid_options', 'too many parts in the multipart body')));
    parser.on('error', (error) => {
      fail(new ApiError(400, 'invalid_multipart', `the multipart body could not be read: ${(error as Error).message}`));
      ctx.req.unpipe(parser);
      ctx.req.resume();
      void finish();
    });
    parser.on('close', () => void finish());

    let finished = false;
    async function finish(): Promise<void> {
      if (finished) return;
      finished = true;
      await Promise.allSettled(pending);
      let parsed: T | undefined;
      if (!failure) {
        try {
          parsed = parseFields(fields);
        } catch (error) {
          failure = error;
        }
      }
      if (failure) {
        await discard();
        reject(failure);
      } else {
        resolve({ fields: parsed as T, file, discard });
      }
    }

    ctx.req.pipe(parser);
  });
}
