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
