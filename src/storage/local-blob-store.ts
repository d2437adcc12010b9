import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertSafeKey, storeCall, type BlobLocation, type BlobStore } from './blob-store.js';

/** Blobs as files under one directory; writes go through a temp name and a rename, so readers never see half a file. */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  get location(): BlobLocation {
    return { kind: 'local', root: this.root };
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, key);
  }

  importFile(key: string, localPath: string): Promise<void> {
    const target = this.pathOf(key);
    return storeCall('importFile', async () => {
      await mkdir(path.dirname(target), { recursive: true });
      try {
        await rename(localPath, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        await this.throughTemp(target, (temp) => copyFile(localPath, temp));
        await unlink(localPath);
      }
    });
  }

  write(key: string, bytes: Buffer): Promise<void> {
    const target = this.pathOf(key);
    return storeCall('write', async () => {
      await mkdir(path.dirname(target), { recursive: true });
      await this.throughTemp(target, (temp) => writeFile(temp, bytes));
    });
  }

  /** Writes `target` under a temp name first; a write that fails (a full disk) leaves no part of it behind. */
  private async throughTemp(target: string, writeTemp: (temp: string) => Promise<void>): Promise<void> {
    const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
    try {
      await writeTemp(temp);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key));
  }

  openReadStream(key: string): Readable {
    return createReadStream(this.pathOf(key));
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}
