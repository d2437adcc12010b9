import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DownloadSigner } from '../../src/signing/download-url.js';

const signer = new DownloadSigner('key-1', () => 'http://kiln.test', 3600);
const now = new Date('2026-01-01T00:00:00Z');

function parts(url: string) {
  const parsed = new URL(url);
  return { expires: parsed.searchParams.get('expires') ?? undefined, signature: parsed.searchParams.get('signature') ?? undefined };
}

test('a signed link verifies until it expires, then reads as expired', () => {
  const { url, expiresAt } = signer.sign('cnv_a', now);
  assert.equal(expiresAt.toISOString(), '2026-01-01T01:00:00.000Z');
  const { expires, signature } = parts(url);
  assert.equal(signer.verify('cnv_a', expires, signature, now), 'valid');
  assert.equal(signer.verify('cnv_a', expires, signature, new Date('2026-01-01T01:00:00Z')), 'expired');
});

test('another id, another expiry, another key or a malformed signature is invalid', () => {
  const { expires, signature } = parts(signer.sign('cnv_a', now).url);
  assert.equal(signer.verify('cnv_b', expires, signature, now), 'invalid');
  assert.equal(signer.verify('cnv_a', String(Number(expires) + 1), signature, now), 'invalid');
  assert.equal(new DownloadSigner('key-2', () => '', 3600).verify('cnv_a', expires, signature, now), 'invalid');
  assert.equal(signer.verify('cnv_a', expires, 'zz', now), 'invalid');
  assert.equal(signer.verify('cnv_a', undefined, signature, now), 'invalid');
});

test("an archive link opens its job's archive only: a download signature never verifies as an archive, nor the reverse", () => {
  const { url, expiresAt } = signer.signArchive('job_a', now);
  assert.equal(new URL(url).pathname, '/v1/jobs/job_a/archive');
  assert.equal(expiresAt.toISOString(), '2026-01-01T01:00:00.000Z');
  const archive = parts(url);
  assert.equal(signer.check('archive', 'job_a', archive.expires, archive.signature, now), 'valid');
  assert.equal(signer.check('archive', 'job_b', archive.expires, archive.signature, now), 'invalid');
  assert.equal(signer.verify('job_a', archive.expires, archive.signature, now), 'invalid');
  const download = parts(signer.sign('job_a', now).url);
  assert.equal(signer.check('archive', 'job_a', download.expires, download.signature, now), 'invalid');
  assert.equal(signer.check('archive', 'job_a', archive.expires, archive.signature, expiresAt), 'expired');
});

test('stream links live KILN_STREAM_LINK_TTL_SECONDS, not the download lifetime, and open only their own stream', () => {
  const short = new DownloadSigner('key-1', () => 'http://kiln.test', 3600, 120);
  const { url, expiresAt } = short.signStream('job-events', 'job_a', now);
  assert.equal(new URL(url).pathname, '/v1/jobs/job_a/events');
  assert.equal(expiresAt.toISOString(), '2026-01-01T00:02:00.000Z');
  const link = parts(url);
  assert.equal(short.check('job-events', 'job_a', link.expires, link.signature, now), 'valid');
  assert.equal(short.check('conversion-events', 'job_a', link.expires, link.signature, now), 'invalid');
  assert.equal(short.check('archive', 'job_a', link.expires, link.signature, now), 'invalid');
  assert.equal(new URL(short.signStream('conversion-events', 'cnv_a', now).url).pathname, '/v1/conversions/cnv_a/events');
});
