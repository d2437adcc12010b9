import type { BlobLocation, BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

/** The store at `location`, opened in this process (a converter opens its worker's store this way). */
export function openBlobStore(location: BlobLocation): BlobStore {
  return location.kind === 's3' ? new S3BlobStore(location) : new LocalBlobStore(location.root);
}
