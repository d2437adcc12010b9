import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NotFound, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertSafeKey, storeCall, type BlobStore, type S3Location } from './blob-store.js';

/**
 * Blobs as objects in an S3-compatible bucket, under `prefix`, with the same keys as the
 * local store. Files stream in (multipart for large ones) and out; nothing is held whole
 * in memory but what `read` is asked for (a converter's input, which sharp takes whole).
 * Credentials come from the environment the AWS SDK reads (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, or its other providers), so they never travel with the location.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;

  constructor(readonly location: S3Location) {
    this.client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      forcePathStyle: location.forcePathStyle,
    });
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return `${this.location.prefix}${key}`;
  }

  async importFile(key: string, localPath: string): Promise<void> {
    await storeCall('upload', () =>
      new Upload({ client: this.client, params: { Bucket: this.location.bucket, Key: this.objectKey(key), Body: createReadStream(localPath) } }).done(),
    );
    await unlink(localPath);
  }

  async write(key: string, bytes: Buffer): Promise<void> {
    await storeCall('put', () => this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key), Body: bytes })));
  }

  async read(key: string): Promise<Buffer> {
    return storeCall('get', async () => {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }));
      return Buffer.from(await object.Body!.transformToByteArray());
    });
  }

  openReadStream(key: string): Readable {
    // The stream exists at once (as the local store's does); the object's bytes follow when S3 answers.
    const out = new PassThrough();
    storeCall('get', () => this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }))).then(
      (object) => {
        const body = object.Body as Readable;
        body.on('error', (error) => out.destroy(error));
        body.pipe(out);
      },
      (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
    );
    return out;
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await storeCall('head', () => this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) })));
      return head.ContentLength;
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
        return undefined;
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await storeCall('delete', () => this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) })));
  }
}
