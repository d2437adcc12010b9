import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { identify, makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';

/**
 * Conversions made from a URL: the worker fetches the original through the address guard
 * (here allowing 127.0.0.1 alone: 127.0.0.2 is loopback too, and refused, so no packet
 * could leave loopback even if the guard failed), follows redirects hop by hop, cuts off
 * oversize and slow sources, and retries what may pass (5xx, no answer) on the workflow's
 * retry policy. Real dev server, embedded Postgres, real HTTP servers on loopback.
 */

interface Source {
  url: string;
  /** Requests by path, in arrival order. */
  hits: string[];
  connections: number;
  close(): Promise<void>;
}

async function startSource(host: string, handler: (req: http.IncomingMessage, res: http.ServerResponse, hits: string[]) => void): Promise<Source> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res, hits);
  });
  const source = { url: '', hits, connections: 0, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  server.on('connection', () => source.connections++);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  source.url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return source;
}

describe('conversions from a source_url', () => {
  let kiln: TestKiln;
  let account: { key: string };
  let photo: Buffer;
  let origin: Source;
  let refused: Source;
  const MAX_BYTES = 200_000;

  before(async () => {
    photo = await makeImage(640, 480);
    refused = await startSource('127.0.0.2', (_req, res) => res.end(photo));
    origin = await startSource('127.0.0.1', (req, res, hits) => {
      const path = req.url ?? '';
      const seen = hits.filter((hit) => hit === path).length;
      if (path === '/photo.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
      const hop = /^\/hop(\d)$/.exec(path);
      if (hop) return res.writeHead(302, { location: Number(hop[1]) < 3 ? `/hop${Number(hop[1]) + 1}` : '/photo.jpg' }).end();
      if (path === '/elsewhere') return res.writeHead(301, { location: `${refused.url}/photo.jpg` }).end();
      if (path === '/missing') return res.writeHead(404).end('no such image');
      if (path === '/flaky') return seen === 1 ? res.writeHead(503).end('busy') : res.writeHead(200).end(photo);
      if (path === '/notes') return res.writeHead(200, { 'content-type': 'text/plain' }).end('just some words');
      if (path === '/endless') {
        // A JPEG header and then bytes without end.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(photo.subarray(0, 1000));
        const more = (): void => void (res.write(Buffer.alloc(64 * 1024)) ? setImmediate(more) : res.once('drain', more));
        res.on('close', () => res.destroy());
        return more();
      }
      if (path === '/silent') return; // never answers
      if (path === '/loop') return res.writeHead(302, { location: '/loop' }).end();
      res.writeHead(500).end();
    });
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
      KILN_SOURCE_MAX_BYTES: String(MAX_BYTES),
      KILN_SOURCE_TIMEOUT_SECONDS: '1',
    });
    account = await createAccount(kiln.url, kiln.adminToken, 'sources');
  });

  after(async () => {
    await kiln?.stop();
    await Promise.all([origin?.close(), refused?.close()]);
  });

  const fromUrl = async (sourceUrl: string, fields: Record<string, string> = {}): Promise<any> => {
    const form = new FormData();
    form.set('output_format', 'png');
    form.set('width', '100');
    form.set('source_url', sourceUrl);
    for (const [name, value] of Object.entries(fields)) form.set(name, value);
    const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: form });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.source_url, sourceUrl);
    return accepted.body;
  };

  test('a source is fetched, stored like an upload and reported in file.uploaded; redirects are followed hop by hop', async () => {
    for (const path of ['/photo.jpg', '/hop1']) {
      const accepted = await fromUrl(`${origin.url}${path}`);
      const done = await waitForConversion(kiln.url, account.key, accepted.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      assert.equal(done.input.bytes, photo.length);
      assert.equal(done.input.filename, path === '/photo.jpg' ? 'photo.jpg' : 'hop1');
      const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      assert.deepEqual(await identify(output), { format: 'png', width: 100, height: 75 });
      const uploaded = await request(`${kiln.url}/v1/events?subject_id=${done.id}&type=file.uploaded`, { key: account.key });
      assert.equal(uploaded.body.data.length, 1);
      assert.equal(uploaded.body.data[0].data.input.bytes, photo.length);
    }
    assert.deepEqual(
      origin.hits.filter((hit) => hit.startsWith('/hop')),
      ['/hop1', '/hop2', '/hop3'],
    );
    // A JSON body works too.
    const json = await jsonRequest(`${kiln.url}/v1/conversions`, account.key, 'POST', {
      source_url: `${origin.url}/photo.jpg`,
      output_format: 'webp',
      width: 50,
    });
    assert.equal(json.status, 202, JSON.stringify(json.body));
    assert.equal((await waitForConversion(kiln.url, account.key, json.body.id)).status, 'succeeded');
  });

  test('each failure ends with its code: refused redirect, 404, too large, slow, not an image, endless redirects; 503 then 200 succeeds', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['/elsewhere', 'blocked_address', /127\.0\.0\.2/],
      ['/missing', 'source_http_error', /404/],
      ['/endless', 'source_too_large', new RegExp(String(MAX_BYTES))],
      ['/silent', 'source_unreachable', /within 1000 ms/],
      ['/notes', 'unsupported_input', /text/],
      ['/loop', 'source_http_error', /more than 5 redirects/],
    ];
    const started = Date.now();
    // The worker runs in this process: its memory while an endless source streams at it.
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
    const [flaky, ...failing] = await Promise.all([fromUrl(`${origin.url}/flaky`), ...cases.map(([path]) => fromUrl(`${origin.url}${path}`))]);
    const ended = await Promise.all(failing.map((accepted) => waitForConversion(kiln.url, account.key, accepted.id, 90_000)));
    for (const [i, [path, code, message]] of cases.entries()) {
      assert.equal(ended[i]!.status, 'failed', path);
      assert.equal(ended[i]!.error.code, code, `${path}: ${JSON.stringify(ended[i]!.error)}`);
      assert.match(ended[i]!.error.message, message, path);
    }
    assert.equal((await waitForConversion(kiln.url, account.key, flaky.id)).status, 'succeeded', '503 is retried');
    assert.equal(origin.hits.filter((hit) => hit === '/flaky').length, 2);
    // What cannot pass is not retried; what may pass is, on the retry policy (4 attempts).
    assert.equal(origin.hits.filter((hit) => hit === '/missing').length, 1, 'a 404 is final');
    assert.equal(origin.hits.filter((hit) => hit === '/silent').length, 4, 'no answer is retried');
    assert.equal(refused.connections, 0, 'nothing ever connected to the refused address');
    assert.ok(Date.now() - started < 60_000, 'all within a minute');
    clearInterval(sampler);
    // Sources stream to disk and stop at KILN_SOURCE_MAX_BYTES: nothing near the endless body's size is ever held.
    assert.ok(peak - baseline < 150 * 2 ** 20, `RSS grew ${Math.round((peak - baseline) / 2 ** 20)} MiB`);
  });

  test('a JSON job takes inputs by URL beside earlier uploads', async () => {
    const earlier = await waitForConversion(kiln.url, account.key, (await fromUrl(`${origin.url}/photo.jpg`)).id);
    const job = await jsonRequest(`${kiln.url}/v1/jobs`, account.key, 'POST', {
      output_format: 'webp',
      width: 64,
      inputs: [{ source_url: `${origin.url}/hop2` }, { conversion_id: earlier.id }, { source_url: `${origin.url}/missing`, filename: 'gone.jpg' }],
    });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    let ended: any;
    await waitUntil(
      async () => !['queued', 'running'].includes((ended = (await request(`${kiln.url}/v1/jobs/${job.body.id}`, { key: account.key })).body).status),
      60_000,
      'the job to end',
    );
    assert.equal(ended.status, 'failed');
    assert.deepEqual(ended.counts, { total: 3, queued: 0, running: 0, succeeded: 2, failed: 1, cancelled: 0 });
    const files = (await request(`${kiln.url}/v1/jobs/${job.body.id}/conversions`, { key: account.key })).body.data;
    assert.deepEqual(
      files.map((file: any) => [file.input.filename, file.status, file.error?.code ?? null]),
      [
        ['hop2', 'succeeded', null],
        ['photo.jpg', 'succeeded', null],
        ['gone.jpg', 'failed', 'source_http_error'],
      ],
    );
    assert.equal(files[0].input.bytes, photo.length);
    for (const inputs of [[{}], [{ conversion_id: earlier.id, source_url: `${origin.url}/photo.jpg` }]]) {
      assertProblem(await jsonRequest(`${kiln.url}/v1/jobs`, account.key, 'POST', { output_format: 'png', inputs }), 400, 'invalid_body');
    }
    assertProblem(
      await jsonRequest(`${kiln.url}/v1/jobs`, account.key, 'POST', { output_format: 'png', inputs: [{ source_url: 'http://10.0.0.1/a.jpg' }] }),
      422,
      'blocked_address',
    );
  });

  test('a source URL is checked when the request arrives', async () => {
    const post = (fields: Record<string, string>, file?: Buffer) => {
      const form = file ? uploadForm(file, 'photo.jpg', { output_format: 'png', ...fields }) : new FormData();
      if (!file) for (const [name, value] of Object.entries({ output_format: 'png', ...fields })) form.set(name, value);
      return request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: form });
    };
    assertProblem(await post({ source_url: 'ftp://127.0.0.1/photo.jpg' }), 400, 'invalid_url');
    assertProblem(await post({ source_url: 'not a url' }), 400, 'invalid_url');
    assertProblem(await post({ source_url: 'http://user:pw@127.0.0.1/x.jpg' }), 400, 'invalid_url');
    assertProblem(await post({ source_url: 'http://10.1.2.3/photo.jpg' }), 422, 'blocked_address');
    assertProblem(await post({ source_url: `${origin.url}/photo.jpg` }, photo), 400, 'invalid_options');
    assertProblem(await jsonRequest(`${kiln.url}/v1/conversions`, account.key, 'POST', { output_format: 'png' }), 400, 'file_required');
  });
});
