import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { ensureBucket, findOrBuildVersitygw, versitygwProcess } from '../../tools/s3-server.js';
import { ManagedProcess } from '../../tools/topology/managed-process.js';
import { freePort } from '../../src/free-port.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { identify, makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

/**
 * Kiln on S3-compatible storage: versitygw (built from the Go module proxy) serving a
 * directory on loopback, the S3 store on its own, then a whole Kiln whose uploads,
 * outputs, assets and archives all live in the bucket: nothing is written to the local
 * blob directory.
 */

const ACCESS = 'kiln-test-access';
const SECRET = 'kiln-test-secret-0123456789';
const BUCKET = 'kiln-test';

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

describe('blobs in an S3-compatible bucket', () => {
  const root = tempDir('s3');
  const logs = tempDir('s3-logs');
  let server: ManagedProcess;
  let endpoint: string;
  let kiln: TestKiln;

  before(async () => {
    const binary = await findOrBuildVersitygw();
    assert.ok(binary, 'versitygw builds here (Go and the module proxy)');
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    const credentials = { accessKey: ACCESS, secretKey: SECRET };
    server = new ManagedProcess({ name: 's3', ...versitygwProcess({ binary, dir: root.path, port, ...credentials }) }, logs.path);
    await server.start();
    await ensureBucket(endpoint, credentials, BUCKET);
    // The SDK (in this process, which runs the API and the worker, and in the converters it forks) reads these.
    process.env.AWS_ACCESS_KEY_ID = ACCESS;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
  });

  after(async () => {
    await kiln?.stop();
    await server?.stop();
    root.remove();
    logs.remove();
  });

  test('the store writes, streams in and out, sizes and deletes objects under its prefix', async () => {
    const store = new S3BlobStore({ kind: 's3', bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, prefix: 'unit/' });
    await store.write('a/small.txt', Buffer.from('hello'));
    assert.equal((await store.read('a/small.txt')).toString(), 'hello');
    assert.equal(await store.size('a/small.txt'), 5);
    assert.equal(await store.size('a/none.txt'), undefined);
    // 12 MiB: a multipart upload from a file, then streamed back out.
    const local = path.join(root.path, '..', `s3-import-${process.pid}.bin`);
    const big = Buffer.alloc(12 * 1024 * 1024, 7);
    writeFileSync(local, big);
    await store.importFile('b/big.bin', local);
    assert.equal(existsSync(local), false, 'importFile moves the file in');
    let streamed = 0;
    for await (const chunk of store.openReadStream('b/big.bin')) streamed += (chunk as Buffer).length;
    assert.equal(streamed, big.length);
    assert.ok(existsSync(path.join(root.path, BUCKET, 'unit', 'b', 'big.bin')), 'under the prefix in the bucket');
    await store.delete('a/small.txt');
    assert.equal(await store.size('a/small.txt'), undefined);
    await assert.rejects(async () => {
      for await (const chunk of store.openReadStream('a/gone.txt')) void chunk;
    }, /NoSuchKey|not exist/i);
  });

  test('a whole Kiln on the bucket: an upload, a URL source, a watermark asset and a job archive, with nothing on the local disk', async () => {
    kiln = await startTestKiln('embedded', {
      KILN_S3_BUCKET: BUCKET,
      KILN_S3_ENDPOINT: endpoint,
      KILN_S3_PREFIX: 'kiln/',
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    });
    const account = await createAccount(kiln.url, kiln.adminToken, 's3');
    const { key } = account;
    const photo = await makeImage(800, 600);

    const asset = await request(`${kiln.url}/v1/assets`, { method: 'POST', key, body: uploadForm(await makeImage(100, 50, 'png'), 'logo.png', {}) });
    assert.equal(asset.status, 201, JSON.stringify(asset.body));
    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key,
      body: uploadForm(photo, 'photo.jpg', { output_format: 'webp', width: '400', watermark: asset.body.id }),
    });
    const done = await waitForConversion(kiln.url, key, accepted.body.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
    assert.deepEqual(await identify(output), { format: 'webp', width: 400, height: 300 });

    // A source fetched into the bucket: the original as Kiln's own download serves it.
    const fromUrl = await jsonRequest(`${kiln.url}/v1/conversions`, key, 'POST', { source_url: done.download_url, output_format: 'png', width: 100 });
    const fetched = await waitForConversion(kiln.url, key, fromUrl.body.id);
    assert.equal(fetched.status, 'succeeded', JSON.stringify(fetched.error));
    assert.equal(fetched.input.bytes, output.length);

    const form = new FormData();
    form.set('output_format', 'png');
    form.set('width', '64');
    for (const name of ['a.jpg', 'b.jpg']) form.append('file', new Blob([photo]), name);
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key, body: form });
    let ended: any;
    await waitUntil(async () => (ended = (await request(`${kiln.url}/v1/jobs/${job.body.id}`, { key })).body).status === 'succeeded', 60_000, 'the job');
    const archive = Buffer.from(await (await fetch(ended.archive_url)).arrayBuffer());
    assert.equal(archive.subarray(0, 2).toString(), 'PK');

    const objects = filesUnder(path.join(root.path, BUCKET, 'kiln'));
    // Every key starts with the account that owns the blob.
    for (const expected of [
      `${account.id}/conversions/${done.id}/input`,
      `${account.id}/conversions/${done.id}/output.webp`,
      `${account.id}/assets/${asset.body.id}`,
      `${account.id}/conversions/${fetched.id}/input`,
    ]) {
      assert.ok(objects.includes(expected), `${expected} is in the bucket`);
    }
    assert.deepEqual(filesUnder(kiln.config.blobDir), [], 'nothing in the local blob directory');
  });
});
