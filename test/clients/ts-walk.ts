/**
 * A walk through Kiln using only openapi-fetch, typed by what openapi-typescript generated
 * from Kiln's live OpenAPI document (./kiln-api.ts, written beside this file by
 * test/api/contract-tools.test.ts, which type-checks this walk against it with tsc before
 * running it). Binary fields are Blobs, by openapi-typescript's documented `transform`.
 *
 * Environment: KILN_URL, KILN_API_KEY, RECEIVER_URL, PHOTO, OUT_DIR. Prints one JSON line
 * of what it saw; any failure throws.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import createClient from 'openapi-fetch';
import type { components, paths } from './kiln-api.js';

type Conversion = components['schemas']['Conversion'];
type Problem = components['schemas']['Problem'];

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const client = createClient<paths>({ baseUrl: env('KILN_URL'), headers: { Authorization: `Bearer ${env('KILN_API_KEY')}` } });
const photo = new Blob([readFileSync(env('PHOTO'))], { type: 'image/jpeg' });
const outDir = env('OUT_DIR');
const seen: Record<string, unknown> = {};

/** A multipart body as the document describes it: each field as text (objects as JSON), files as parts. */
function formData(body: object): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(body) as Array<[string, unknown]>) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item instanceof Blob) form.append(name, item, `${name}.jpg`);
      else if (item !== undefined) form.append(name, typeof item === 'object' ? JSON.stringify(item) : String(item as string | number | boolean));
    }
  }
  return form;
}

async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function finished(id: string): Promise<Conversion> {
  return until(async () => {
    const { data } = await client.GET('/v1/conversions/{id}', { params: { path: { id } } });
    assert.ok(data);
    return data.status === 'queued' || data.status === 'running' ? undefined : data;
  }, `conversion ${id}`);
}

/** A signed download_url, through the generated downloadOutput operation. */
async function download(link: string): Promise<Buffer> {
  const url = new URL(link);
  const { data, response } = await client.GET('/v1/downloads/{id}', {
    params: {
      path: { id: url.pathname.split('/').pop()! },
      query: { expires: url.searchParams.get('expires')!, signature: url.searchParams.get('signature')! },
    },
    parseAs: 'arrayBuffer',
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  return Buffer.from(data!);
}

// A multipart upload with options.
const uploaded = await client.POST('/v1/conversions', {
  body: { file: photo, output_format: 'webp', width: 320, tag: 'walk' },
  bodySerializer: formData,
  params: { header: { 'Idempotency-Key': 'ts-walk-multipart' } },
});
assert.equal(uploaded.response.status, 202, JSON.stringify(uploaded.error));
let done = await finished(uploaded.data!.id);
assert.equal(done.status, 'succeeded');
writeFileSync(path.join(outDir, 'multipart.webp'), await download(done.download_url!));
seen.multipart = { width: done.output?.width, format: done.output?.format };

// The raw image as the body, its options as typed query parameters.
const raw = await client.POST('/v1/conversions', {
  body: photo,
  bodySerializer: (body) => body as Blob,
  headers: { 'Content-Type': 'image/jpeg' },
  params: { query: { filename: 'raw.jpg', output_format: 'png', width: 200, grayscale: true } },
});
assert.equal(raw.response.status, 202, JSON.stringify(raw.error));
done = await finished(raw.data!.id);
assert.equal(done.status, 'succeeded');
writeFileSync(path.join(outDir, 'raw.png'), await download(done.download_url!));
seen.raw = { filename: done.input.filename, width: done.output?.width, grayscale: done.options.grayscale };

// A job of several files, its files listed, and its archive.
const job = await client.POST('/v1/jobs', {
  body: { file: [photo, photo, photo], output_format: 'jpeg', width: 100 },
  bodySerializer: formData,
});
assert.equal(job.response.status, 202, JSON.stringify(job.error));
const jobId = job.data!.id;
const ended = await until(async () => {
  const { data } = await client.GET('/v1/jobs/{id}', { params: { path: { id: jobId } } });
  return data && data.status !== 'queued' && data.status !== 'running' ? data : undefined;
}, 'the job');
assert.equal(ended.status, 'succeeded');
const files = await client.GET('/v1/jobs/{id}/conversions', { params: { path: { id: jobId }, query: { limit: 10 } } });
assert.equal(files.data?.data.length, 3);
const archive = await client.GET('/v1/jobs/{id}/archive', { params: { path: { id: jobId } }, parseAs: 'arrayBuffer' });
assert.equal(archive.response.headers.get('content-type'), 'application/zip');
writeFileSync(path.join(outDir, 'job.zip'), Buffer.from(archive.data!));
seen.job = { files: files.data?.data.map((file) => file.status) };

// An endpoint: created, changed, a test event sent; its delivery read, listed and retried.
const endpoint = await client.POST('/v1/webhooks/endpoints', { body: { url: env('RECEIVER_URL'), event_types: ['webhook.test'] } });
assert.equal(endpoint.response.status, 201, JSON.stringify(endpoint.error));
const endpointId = endpoint.data!.id;
const changed = await client.PATCH('/v1/webhooks/endpoints/{id}', { params: { path: { id: endpointId } }, body: { description: 'walked', enabled: true } });
assert.equal(changed.data?.description, 'walked');
const sent = await client.POST('/v1/webhooks/endpoints/{id}/test', { params: { path: { id: endpointId } } });
const deliveryId = sent.data!.delivery_id!;
await until(async () => {
  const { data } = await client.GET('/v1/webhooks/deliveries/{id}', { params: { path: { id: deliveryId } } });
  return data?.status === 'succeeded' ? data : undefined;
}, 'the delivery');
const log = await client.GET('/v1/webhooks/deliveries', { params: { query: { endpoint_id: endpointId, status: 'succeeded' } } });
assert.deepEqual(
  log.data?.data.map((delivery) => delivery.id),
  [deliveryId],
);
const retried = await client.POST('/v1/webhooks/deliveries/{id}/retry', { params: { path: { id: deliveryId } } });
assert.equal(retried.response.status, 202);
const twice = await until(async () => {
  const { data } = await client.GET('/v1/webhooks/deliveries/{id}', { params: { path: { id: deliveryId } } });
  return data?.attempts.length === 2 && data.status === 'succeeded' ? data : undefined;
}, 'the retry');
seen.delivery = { attempts: twice.attempts.map((attempt) => attempt.trigger), payload: twice.payload.type };

// Problems, typed: `error` is the Problem component, its code one of the enum.
const missing = await client.GET('/v1/conversions/{id}', { params: { path: { id: `cnv_${'0'.repeat(23)}` } } });
const problem: Problem | undefined = missing.error;
assert.equal(missing.response.status, 404);
assert.equal(problem?.code, 'conversion_not_found');
const refused = await client.POST('/v1/conversions', {
  body: { file: photo, output_format: 'jpeg', lossless: true },
  bodySerializer: formData,
});
assert.equal(refused.error?.code, 'invalid_options');
seen.problems = [problem?.code, refused.error?.code, refused.error?.errors?.map((error) => error.field)];

console.log(JSON.stringify(seen));
