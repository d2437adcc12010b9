import type { Readable } from 'node:stream';

/**
 * Where a store's blobs live, as plain data: enough for another process (a converter) to
 * open the same store and read and write blobs itself.
 */
export type BlobLocation = { kind: 'local'; root: string } | S3Location;

/** An S3-compatible bucket (credentials from the environment, never in the location). */
export interface S3Location {
  kind: 's3';
  bucket: string;
  region: string;
  /** A non-AWS server's URL (MinIO, versitygw, s3proxy…); absent: AWS. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** Put before every key, e.g. `kiln/`; may be empty. */
  prefix: string;
}

/**
 * Where file bytes live. Temporal payloads carry only keys, never bytes.
 * Keys are relative, slash-separated names chosen by Kiln (never by a user).
 */
export interface BlobStore {
  readonly location: BlobLocation;
  /** Moves a finished local file (an upload spooled to disk) in under `key`. */
  importFile(key: string, localPath: string): Promise<void>;
  write(key: string, bytes: Buffer): Promise<void>;
  read(key: string): Promise<Buffer>;
  openReadStream(key: string): Readable;
  size(key: string): Promise<number | undefined>;
  delete(key: string): Promise<void>;
}

const SAFE_KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/i;

export function assertSafeKey(key: string): void {
  if (!SAFE_KEY.test(key) || key.includes('..')) throw new Error(`unsafe blob key: ${key}`);
}

/**
 * The store did not answer, or answered that it cannot serve now (a 5xx, a throttle): the
 * work that needed it can wait and try again, rather than fail as its input would.
 */
export class StorageUnavailableError extends Error {
  override readonly name: string = 'StorageUnavailableError';
}

/**
 * The store has no room (a full disk, a quota): like an outage, the work can wait until
 * space is freed, but it is the operator's to fix, and is told apart wherever it is reported.
 */
export class StorageFullError extends StorageUnavailableError {
  override readonly name: string = 'StorageFullError';
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** True for an error that says the store (or the local disk under it) is out of space. */
export function isStoreFull(error: unknown): boolean {
  if (error instanceof StorageFullError) return true;
  const e = error as { code?: string; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.code && FULL_CODES.has(e.code)) return true;
  return e.cause !== undefined && e.cause !== error && isStoreFull(e.cause);
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** True for an error that says the store is away, not that the request was wrong. */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof StorageUnavailableError || isStoreFull(error)) return true;
  const e = error as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.code && UNREACHABLE_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout' || e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  return e.cause !== undefined && e.cause !== error && isStoreUnavailable(e.cause);
}

/** Runs a store operation, turning "the store is away" into StorageUnavailableError. */
export async function storeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isStoreFull(error) && !(error instanceof StorageFullError)) {
      throw new StorageFullError(`blob storage is out of space (${operation}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (isStoreUnavailable(error) && !(error instanceof StorageUnavailableError)) {
      throw new StorageUnavailableError(`blob storage did not answer (${operation}): ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    throw error;
  }
}
