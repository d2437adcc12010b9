import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import path from 'node:path';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { assertNothingLeft } from '../support/leftovers.js';
import { waitUntil } from '../support/processes.js';

/** A real small file system for the data dir (spool and blobs): a tmpfs, which needs root; without it the test says so and skips. */
function mountSmallFileSystem(megabytes: number): { dir: string; unmount(): void } | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return `no tmpfs here (${(error as Error).message.split('\n')[0]})`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const mounted = mountSmallFileSystem(24);

describe('a full disk is an answer, not a hang', { skip: typeof mounted === 'string' ? mounted : false }, () => {
  const fs = mounted as Exclude<typeof mounted, string>;
  const filler = path.join(fs.dir, 'filler');
  let kiln: TestKiln;
  let key: string;

  /** Fills the file system until `leaveBytes` remain free (0: full). */
  function fillUntil(leaveBytes: number): void {
    rmSync(filler, { force: true });
    const free = statfsSync(fs.dir).bavail * statfsSync(fs.dir).bsize;
    try {
      writeFileSync(filler, Buffer.alloc(Math.max(0, free - leaveBytes)));
    } catch (error) {
      // The file system's own bookkeeping can take the last pages: full is what was asked for.
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC' || leaveBytes > 0) throw error;
    }
  }

  async function metric(name: string, reason: string): Promise<number> {
    const text = (await request(`${kiln.url}/metrics`, { key: kiln.adminToken })).body as string;
    const line = text.split('\n').find((l) => l.startsWith(`${name}{reason="${reason}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  before(async () => {
    mkdirSync(path.join(fs.dir, 'data'));
    kiln = await startTestKiln('embedded', { KILN_DATA_DIR: path.join(fs.dir, 'data') });
    key = (await createAccount(kiln.url, kiln.adminToken, 'full')).key;
  });
  after(async () => {
    await kiln?.stop();
    fs.unmount();
  });

  test('an upload that does not fit answers 507 insufficient_storage at once, with Retry-After, and keeps nothing', { timeout: 120_000 }, async () => {
    // Noise does not compress: a PNG of about 2 MB.
    const big = await sharp(randomBytes(900 * 800 * 3), { raw: { width: 900, height: 800, channels: 3 } })
      .png()
      .toBuffer();
    assert.ok(big.length > 1024 * 1024, `a ${big.length}-byte upload`);
    for (const [leave, label] of [
      [512 * 1024, 'half a megabyte free'],
      [0, 'nothing free'],
    ] as const) {
      fillUntil(leave);
      for (const [style, send] of [
        ['multipart', () => request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(big, 'big.png', { output_format: 'webp' }) })],
        [
          'raw',
          () =>
            request(`${kiln.url}/v1/conversions?output_format=webp`, {
              method: 'POST',
              key,
              headers: { 'content-type': 'image/png' },
              body: new Uint8Array(big),
            }),
        ],
      ] as const) {
        const started = Date.now();
        const response = await send();
        assert.equal(response.status, 507, `${label}, ${style}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.code, 'insufficient_storage');
        assert.ok(Number(response.headers.get('retry-after')) > 0, 'Retry-After');
        console.log(`${label}, ${style}: 507 in ${Date.now() - started} ms`);
        await assertNothingLeft(kiln);
      }
    }
    assert.ok((await metric('kiln_storage_refusals_total', 'full')) >= 4);
    rmSync(filler, { force: true });
    const fits = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(big, 'big.png', { output_format: 'webp' }) });
    assert.equal(fits.status, 202, 'with space freed, the same upload is accepted');
    assert.equal((await waitForConversion(kiln.url, key, fits.body.id)).status, 'succeeded');
  });

  test('a conversion whose output cannot be written waits for space, then succeeds', { timeout: 180_000 }, async () => {
    await kiln.stopWorkers();
    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key,
      body: uploadForm(await makeImage(1400, 1000, 'png'), 'in.png', { output_format: 'png' }),
    });
    assert.equal(accepted.status, 202);
    fillUntil(0);
    const waitsBefore = await metric('kiln_storage_waits_total', 'full');
    await kiln.startWorkers();
    // The positive signal that the output write met the full disk: the conversion waited for space (at least twice).
    await waitUntil(async () => (await metric('kiln_storage_waits_total', 'full')) >= waitsBefore + 2, 60_000, 'the conversion to wait for space');
    const waiting = (await request(`${kiln.url}/v1/conversions/${accepted.body.id}`, { key })).body;
    assert.equal(waiting.status, 'running', 'waiting for space is not a failure');
    rmSync(filler, { force: true });
    const done = await waitForConversion(kiln.url, key, accepted.body.id, 60_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.attempts, 1, 'the wait spent no retry attempt');
  });
});
