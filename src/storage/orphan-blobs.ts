import type { LogFunction } from '../log.js';
import type { BlobStore } from './blob-store.js';

/**
 * Runs `store`; if it throws, the blobs under `keys` (already imported for it) are deleted
 * before the error goes on, so a refused row leaves no file behind.
 */
export async function deleteBlobsIfStoreFails<T>(blobs: BlobStore, log: LogFunction, keys: string[], store: () => Promise<T>): Promise<T> {
  try {
    return await store();
  } catch (error) {
    await Promise.all(keys.map((key) => blobs.delete(key).catch((cleanup: unknown) => log(`could not delete the orphaned blob ${key}`, cleanup))));
    throw error;
  }
}
