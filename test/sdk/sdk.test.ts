import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Kiln, KilnError, verifyWebhook, WebhookVerificationError, type Conversion } from '../../sdk/src/index.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { magickFormat } from '../support/magick.js';
import { startReceiver } from '../support/receiver.js';
import { tempDir } from '../support/temp.js';

/**
 * A proxy between the SDK and Kiln that can fail the way networks do: cut an event stream
 * after its first event, or drop the answer of a POST Kiln has already handled. It records
 * each request's method, path, status and Idempotency-Key.
 */
interface Proxy {
  url: string;
  seen: Array<{ method: string; path: string; status: number; key: string | undefined }>;
  cutNextStreamAfterFirstEvent: boolean;
  dropNextPostAnswer: boolean;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const proxy: Proxy = { url: '', seen: [], cutNextStreamAfterFirstEvent: false, dropNextPostAnswer: false, close: async () => {} };
  const server = http.createServer((req, res) => {
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const key = req.headers['idempotency-key'] as string | undefined;
      proxy.seen.push({ method: req.method!, path: req.url!, status: answer.statusCode!, key });
      if (req.method === 'POST' && proxy.dropNextPostAnswer) {
        proxy.dropNextPostAnswer = false;
        // Kiln has handled it; the client never hears.
        answer.resume();
        answer.on('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(answer.statusCode!, answer.headers);
      if (answer.headers['content-type']?.startsWith('text/event-stream') && proxy.cutNextStreamAfterFirstEvent) {
        proxy.cutNextStreamAfterFirstEvent = false;
        let text = '';
        answer.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          res.write(chunk);
          if (/\nevent: /.test(text) && text.endsWith('\n\n')) {
            answer.destroy();
            req.socket.destroy();
          }
        });
        return;
      }
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => new Promise((resolve) => server.close(() => resolve()));
  return proxy;
}

describe('the TypeScript SDK against a real Kiln', () => {
  let kiln: TestKiln;
  let proxy: Proxy;
  let account: { id: string; key: string; webhookSecret: string };
  let sdk: Kiln;
  let photo: Buffer;
  const dir = tempDir('sdk');

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      KILN_WEBHOOK_RETRY_SCHEDULE: '1s',
      // A short window, so a limit the 429 test sets refills in seconds.
      KILN_RATE_LIMIT_WORK: '600/2s',
    });
    proxy = await startProxy(kiln.url);
    account = await createAccount(kiln.url, kiln.adminToken, 'sdk');
    sdk = new Kiln({ url: proxy.url, apiKey: account.key });
    photo = await makeImage(400, 300);
  });
  after(async () => {
    await proxy?.close();
    await kiln?.stop();
    dir.remove();
  });

  test('convert from a path, bytes, a stream and a URL; wait with progress; download, decoded by ImageMagick', async () => {
    const file = path.join(dir.path, 'photo.jpg');
    writeFileSync(file, photo);
    const progress: string[] = [];
    const fromPath = await sdk.convert(file, { output_format: 'webp', width: 200 }, { wait: true, onProgress: (event) => progress.push(event.type) });
    assert.equal(fromPath.status, 'succeeded');
    assert.equal(fromPath.input.filename, 'photo.jpg');
    assert.deepEqual(progress.slice(-2), ['conversion.started', 'conversion.completed']);
    const out = path.join(dir.path, 'out.webp');
    await sdk.download(fromPath, out);
    assert.equal(await magickFormat(readFileSync(out), '%m %w %h'), 'WEBP 200 150');

    const fromBytes = await sdk.convert(photo, { output_format: 'png', width: 40 }, { wait: true });
    assert.equal(await magickFormat(Buffer.from(await sdk.download(fromBytes)), '%m %w'), 'PNG 40');
    const fromStream = await sdk.convert(
      Readable.toWeb(Readable.from([photo.subarray(0, 1000), photo.subarray(1000)])) as ReadableStream<Uint8Array>,
      { output_format: 'avif', width: 50 },
      { wait: true },
    );
    assert.equal(fromStream.status, 'succeeded');

    const origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    try {
      const fromUrl = await sdk.convert(
        `http://127.0.0.1:${(origin.address() as AddressInfo).port}/p.jpg`,
        { output_format: 'webp', width: 100 },
        { wait: true },
      );
      assert.equal(fromUrl.status, 'succeeded', JSON.stringify(fromUrl.error));
      assert.equal(fromUrl.output?.width, 100);
    } finally {
      origin.close();
    }
  });

  test('a wait whose stream is cut resumes after the last event: every event once, then the end', async () => {
    const accepted = await sdk.convert(photo, { output_format: 'avif', width: 380, effort: 6 });
    proxy.cutNextStreamAfterFirstEvent = true;
    const seen: string[] = [];
    const ended = await sdk.wait(accepted, { onProgress: (event) => seen.push(event.id) });
    assert.equal(ended.status, 'succeeded');
    const streams = proxy.seen.filter((r) => r.path === `/v1/conversions/${accepted.id}/events`);
    assert.ok(streams.length >= 2, `the stream was opened ${streams.length} time(s)`);
    const stored = (await jsonRequest(`${kiln.url}/v1/events?subject_id=${accepted.id}&limit=100`, account.key, 'GET')).body.data
      .map((e: any) => e.id)
      .reverse();
    assert.deepEqual(seen, stored);
  });

  test('429 and a lost answer are retried: the same Idempotency-Key, one conversion', async () => {
    // 4 per 2 s (this Kiln's window): a token every half second.
    await jsonRequest(`${kiln.url}/v1/admin/accounts/${account.id}/limits`, kiln.adminToken, 'PUT', { rate_work: 4 });
    const before = proxy.seen.length;
    const limitedSoFar = () => proxy.seen.slice(before).filter((r) => r.status === 429);
    // Bursts past the allowance until one outruns the refill (the first, unless the machine is very slow).
    const ids = new Set<string>();
    for (let burst = 0; burst < 6 && limitedSoFar().length === 0; burst++) {
      const converted = await Promise.all(Array.from({ length: 10 }, () => sdk.convert(photo, { output_format: 'webp', width: 10 })));
      converted.forEach((c) => ids.add(c.id));
      assert.equal(ids.size, 10 * (burst + 1), 'each call made one conversion');
    }
    // Each refused one was waited out and sent again, under the same key.
    const limited = limitedSoFar();
    assert.ok(limited.length >= 1, `${limited.length} answers were 429`);
    for (const refused of limited)
      assert.ok(
        proxy.seen.some((r) => r.key === refused.key && r.status === 202),
        'its retry was accepted with the same key',
      );
    await jsonRequest(`${kiln.url}/v1/admin/accounts/${account.id}/limits`, kiln.adminToken, 'PUT', {});

    const count = async () => {
      let n = 0;
      for await (const _ of sdk.list<Conversion>('/v1/conversions')) n++;
      return n;
    };
    const total = await count();
    proxy.dropNextPostAnswer = true;
    const once = await sdk.convert(photo, { output_format: 'webp', width: 10 });
    const posts = proxy.seen.filter((r) => r.method === 'POST' && r.key === proxy.seen.at(-1)!.key);
    assert.equal(posts.length, 2, 'sent twice');
    assert.equal(await count(), total + 1, 'one conversion made');
    assert.equal((await sdk.getConversion(once.id)).id, once.id);
  });

  test('a job of files, waited for; problems are KilnError with their code', async () => {
    const job = await sdk.createJob([photo, photo, new File([photo], 'third.jpg')], { output_format: 'webp', width: 64 }, { wait: true });
    assert.equal(job.status, 'succeeded');
    const files: Conversion[] = [];
    for await (const file of sdk.list<Conversion>('/v1/conversions', { limit: 2 })) if (file.job_id === job.id) files.push(file);
    assert.equal(files.length, 3);

    const refused = await sdk.convert(photo, { output_format: 'webp', quality: 500 }).catch((error: unknown) => error);
    assert.ok(refused instanceof KilnError);
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'invalid_options');
    assert.ok(Array.isArray(refused.problem.errors));

    // Anything else, typed from the document.
    const { data } = await sdk.api.GET('/v1/jobs/{id}', { params: { path: { id: job.id } } });
    assert.equal(data?.counts.succeeded, 3);
  });

  test('verifyWebhook holds for deliveries Kiln sent, across a rotation; a tampered body does not', async () => {
    const receiver = await startReceiver([{ status: 204 }]);
    try {
      const endpoint = (await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, account.key, 'POST', { url: receiver.url, event_types: ['webhook.test'] })).body;
      await jsonRequest(`${kiln.url}/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
      const [first] = await receiver.waitForRequests(1);
      const event = await verifyWebhook(first!.body, first!.headers, endpoint.secret);
      assert.equal(event.type, 'webhook.test');
      await assert.rejects(
        verifyWebhook(first!.body.replace('webhook.test', 'webhook.tost'), first!.headers, endpoint.secret),
        (e: unknown) => e instanceof WebhookVerificationError && e.reason === 'no_matching_signature',
      );
      await assert.rejects(
        verifyWebhook(first!.body, first!.headers, endpoint.secret, { now: new Date(Date.now() + 3_600_000) }),
        (e: unknown) => e instanceof WebhookVerificationError && e.reason === 'timestamp_out_of_tolerance',
      );

      const rotated = (await jsonRequest(`${kiln.url}/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, account.key, 'POST')).body;
      await jsonRequest(`${kiln.url}/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
      const [, second] = await receiver.waitForRequests(2);
      // During the overlap each secret alone verifies: receivers switch whenever they like.
      await verifyWebhook(second!.body, second!.headers, endpoint.secret);
      await verifyWebhook(second!.body, second!.headers, rotated.secret);
      // Kiln's own header alone (a receiver behind a proxy that drops the standard ones): the oldest live secret.
      const { 'webhook-id': _id, 'webhook-timestamp': _ts, 'webhook-signature': _sig, ...kilnOnly } = second!.headers as Record<string, string>;
      await verifyWebhook(second!.body, kilnOnly, [rotated.secret, endpoint.secret]);
    } finally {
      await receiver.close();
    }
  });
});
