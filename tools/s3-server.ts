import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import type { ProcessSpec } from './topology/managed-process.js';
import { goInstallOnce } from './go-install.js';

/**
 * Tooling for the S3 tests and the topology (and operators trying Kiln on S3 without AWS):
 * versitygw, an S3-compatible gateway over a directory, built once from the Go module proxy
 * and cached under Kiln's cache directory like the Temporal CLI.
 */

export const VERSITYGW_VERSION = 'v1.8.0';

/** Path of a versitygw binary, building it when needed; undefined without Go. */
export async function findOrBuildVersitygw(log: (line: string) => void = console.error): Promise<string | undefined> {
  const dir = await goInstallOnce(
    {
      name: `versitygw-${VERSITYGW_VERSION}`,
      what: `versitygw ${VERSITYGW_VERSION} (an S3-compatible server)`,
      packages: [`github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`],
    },
    log,
  );
  return dir && path.join(dir, 'versitygw');
}

export interface S3ServerOptions {
  binary: string;
  /** Where versitygw keeps buckets (a directory per bucket, a file per object). */
  dir: string;
  port: number;
  accessKey: string;
  secretKey: string;
}

/** versitygw serving `dir` on loopback, ready once it answers an S3 request. */
export function versitygwProcess(options: S3ServerOptions): Omit<ProcessSpec, 'name'> {
  mkdirSync(options.dir, { recursive: true });
  const endpoint = `http://127.0.0.1:${options.port}`;
  return {
    command: options.binary,
    args: ['--port', `127.0.0.1:${options.port}`, '--access', options.accessKey, '--secret', options.secretKey, 'posix', options.dir],
    ready: () =>
      s3Client(endpoint, options)
        .send(new ListBucketsCommand({}))
        .then(() => true),
  };
}

function s3Client(endpoint: string, credentials: { accessKey: string; secretKey: string }): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: credentials.accessKey, secretAccessKey: credentials.secretKey },
  });
}

/** Creates `bucket` unless it exists. */
export async function ensureBucket(endpoint: string, credentials: { accessKey: string; secretKey: string }, bucket: string): Promise<void> {
  const client = s3Client(endpoint, credentials);
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}
