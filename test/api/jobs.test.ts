import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/temp.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request } from '../support/http.js';
import { identify, makeImage } from '../support/images.js';
import { startReceiver, verifyDelivery, type Receiver } from '../support/receiver.js';
import { EventSource } from 'eventsource';

const execFileAsync = promisify(execFile);

const PHOTOS = [
  '/usr/share/backgrounds/mate/nature/FreshFlower.jpg',
  '/usr/share/backgrounds/mate/nature/GreenMeadow.jpg',
  '/usr/share/backgrounds/mate/nature/Aqua.jpg',
];
const MAX_JOB_FILES = 5;

/**
 * Jobs through the API: a real Kiln (dev server, embedded database, converter processes)
 * with real photographs (Debian's mate-backgrounds), outputs decoded by ImageMagick and
 * webhooks received on loopback and verified with the standardwebhooks package.
 */
describe('jobs API on a Temporal dev server', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string; webhookSecret: string };
  let bob: { id: string; key: string; webhookSecret: string };
  let sink: Receiver;
  const scratch = tempDir('jobs-archive');
  const photos = PHOTOS.map((file) => ({ name: file.split('/').pop()!, bytes: readFileSync(file) }));

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      KILN_MAX_JOB_FILES: String(MAX_JOB_FILES),
      KILN_JOB_CONCURRENCY: '2',
      KILN_STREAM_KEEPALIVE_SECONDS: '1',
    });
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
    bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
    sink = await startReceiver();
  });

  after(async () => {
    await sink?.close();
    await kiln?.stop();
    scratch.remove();
  });

  /**
   * Opens a zip with Python's zipfile (a reader independent of the writer): checks every
   * entry's CRC, then extracts it; answers the names in order and each entry's bytes.
   */
  async function openZip(bytes: Buffer, label: string): Promise<Array<{ name: string; bytes: Buffer }>> {
    const dir = path.join(scratch.path, label);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'archive.zip');
    writeFileSync(file, bytes);
    const script = [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'bad = z.testzip()',
      'assert bad is None, f"bad CRC in {bad}"',
      'names = z.namelist()',
      'for i, n in enumerate(names): open(f"{sys.argv[2]}/{i}", "wb").write(z.read(n))',
      'print(json.dumps(names))',
    ].join('\n');
    const out = path.join(dir, 'entries');
    mkdirSync(out);
    // Not execFileSync: Kiln runs in this process, and a blocked event loop outlasts its keep-alive.
    const names = JSON.parse((await execFileAsync('python3', ['-c', script, file, out], { encoding: 'utf8' })).stdout) as string[];
    assert.equal(readdirSync(out).length, names.length);
    return names.map((name, index) => ({ name, bytes: readFileSync(path.join(out, String(index))) }));
  }

  async function fetchBytes(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
    const response = await fetch(url, init);
    return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
  }

  function jobForm(files: Array<{ name: string; bytes: Buffer }>, fields: Record<string, string>): FormData {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.set(name, value);
    for (const file of files) form.append('file', new Blob([file.bytes]), file.name);
    return form;
  }

  const submitJob = (key: string, files: Array<{ name: string; bytes: Buffer }>, fields: Record<string, string>) =>
    request(`${kiln.url}/v1/jobs`, { method: 'POST', key, body: jobForm(files, fields) });

  async function waitForJob(key: string, id: string, timeoutMs = 120_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await request(`${kiln.url}/v1/jobs/${id}`, { key });
      assert.equal(response.status, 200);
      if (!['queued', 'running'].includes(response.body.status)) return response.body;
      if (Date.now() > deadline) assert.fail(`job ${id} still ${response.body.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function jobFiles(key: string, id: string): Promise<any[]> {
    const files: any[] = [];
    let cursor: string | null = null;
    do {
      const response = await request(`${kiln.url}/v1/jobs/${id}/conversions?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key });
      assert.equal(response.status, 200);
      files.push(...response.body.data);
      cursor = response.body.next_cursor;
    } while (cursor);
    return files;
  }

  /** The webhooks the sink got for `subjectId` (a job or one of its files), each verified. */
  function deliveredFor(ids: string[]): Array<Record<string, any>> {
    return sink.requests
      .map((received) => verifyDelivery(received, alice.webhookSecret) as Record<string, any>)
      .filter((payload) => ids.includes(payload.data.job_id) || ids.includes(payload.data.conversion_id));
  }

  /** The one delivery of `type` for job `jobId`, verified; waits for it to arrive. */
  async function deliveredOnce(jobId: string, type: string): Promise<Record<string, any>> {
    const matching = () => deliveredFor([jobId]).filter((payload) => payload.type === type);
    const deadline = Date.now() + 30_000;
    while (matching().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const found = matching();
    assert.equal(found.length, 1, `one ${type} delivered for ${jobId}`);
    return found[0]!;
  }

  let firstJobFiles: any[] = [];

  test('a multipart job of real photos converts each file, with per-file options, and reports every step by webhook', async () => {
    const submitted = await submitJob(alice.key, photos, {
      output_format: 'webp',
      width: '320',
      inputs: JSON.stringify([{}, { options: { output_format: 'png', width: 200 } }]),
      webhook_url: sink.url,
      webhook_metadata: JSON.stringify({ album: 'meadows' }),
      tag: 'album-7',
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    assert.match(id, /^job_/);
    assert.equal(submitted.headers.get('location'), `/v1/jobs/${id}`);
    assert.equal(submitted.body.status, 'queued');
    assert.equal(submitted.body.workflow_id, `job-${id}`);
    assert.deepEqual(submitted.body.counts, { total: 3, queued: 3, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
    assert.equal(submitted.body.concurrency, 2);

    const job = await waitForJob(alice.key, id);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.counts, { total: 3, queued: 0, running: 0, succeeded: 3, failed: 0, cancelled: 0 });
    assert.equal(job.progress, 100);
    assert.ok(job.started_at && job.completed_at);

    const files = await jobFiles(alice.key, id);
    firstJobFiles = files;
    assert.deepEqual(
      files.map((file) => [file.job_id, file.job_index, file.input.filename, file.status, file.options.output_format]),
      [
        [id, 0, photos[0]!.name, 'succeeded', 'webp'],
        [id, 1, photos[1]!.name, 'succeeded', 'png'],
        [id, 2, photos[2]!.name, 'succeeded', 'webp'],
      ],
    );
    for (const [index, file] of files.entries()) {
      const download = await fetch(file.download_url);
      assert.equal(download.status, 200);
      const decoded = await identify(Buffer.from(await download.arrayBuffer()));
      assert.equal(decoded.format, index === 1 ? 'png' : 'webp');
      assert.equal(decoded.width, index === 1 ? 200 : 320);
    }

    // Every event of the job and of its files, each verified as a receiver verifies it.
    const expected = 1 + 3 + 1 + 3 * 3; // job.started, job.progress × 3, job.completed; file.uploaded, conversion.started, conversion.completed per file
    const ids = [id, ...files.map((file) => file.id)];
    const deadline = Date.now() + 30_000;
    while (deliveredFor(ids).length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const delivered = deliveredFor(ids);
    const jobEvents = delivered.filter((payload) => payload.type.startsWith('job.'));
    assert.deepEqual(jobEvents.map((payload) => payload.type).sort(), ['job.completed', 'job.progress', 'job.progress', 'job.progress', 'job.started']);
    for (const payload of delivered) {
      assert.deepEqual(payload.data.metadata, { album: 'meadows' });
      assert.equal(payload.data.tag, 'album-7');
    }
    const progress = jobEvents.filter((payload) => payload.type === 'job.progress');
    assert.deepEqual(progress.map((payload) => payload.data.file.index).sort(), [0, 1, 2]);
    assert.deepEqual(progress.map((payload) => payload.data.counts.succeeded).sort(), [1, 2, 3]);
    const completed = jobEvents.find((payload) => payload.type === 'job.completed')!;
    assert.deepEqual(completed.data.counts, job.counts);
    assert.equal(completed.data.progress, 100);
    assert.deepEqual(
      delivered
        .filter((payload) => !payload.type.startsWith('job.'))
        .map((payload) => payload.type)
        .sort(),
      ['conversion.completed', 'conversion.started', 'file.uploaded'].flatMap((type) => [type, type, type]),
    );
    assert.equal(delivered.length, expected, 'each event delivered once');

    const listed = await request(`${kiln.url}/v1/jobs?status=succeeded`, { key: alice.key });
    assert.ok(listed.body.data.some((listedJob: any) => listedJob.id === id));

    // The archive: by the signed link the job.completed webhook carried (no key), and by API key.
    assert.match(completed.data.archive_url, new RegExp(`/v1/jobs/${id}/archive\\?expires=\\d+&signature=[0-9a-f]{64}$`));
    const signed = await fetchBytes(completed.data.archive_url);
    assert.equal(signed.status, 200);
    assert.equal(signed.headers.get('content-type'), 'application/zip');
    assert.equal(signed.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(Number(signed.headers.get('content-length')), signed.bytes.length, 'the size is known before streaming');
    assert.match(signed.headers.get('content-disposition') ?? '', new RegExp(`attachment; filename="${id}.zip"`));
    const entries = await openZip(signed.bytes, 'first');
    assert.deepEqual(
      entries.map((entry) => entry.name),
      files.map((file) => file.output.filename),
    );
    for (const [index, entry] of entries.entries()) {
      const decoded = await identify(entry.bytes);
      assert.deepEqual([decoded.format, decoded.width], [index === 1 ? 'png' : 'webp', index === 1 ? 200 : 320]);
    }
    const byKey = await fetchBytes(`${kiln.url}/v1/jobs/${id}/archive`, { headers: { authorization: `Bearer ${alice.key}` } });
    assert.equal(byKey.status, 200);
    assert.deepEqual(byKey.bytes, signed.bytes, 'the same archive either way');
    assert.ok(job.archive_url, 'the job itself carries a fresh link');
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}/archive`, { key: bob.key }), 404, 'job_not_found');
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}/archive`), 401, 'unauthorized');
    const forged = completed.data.archive_url.replace(/signature=([0-9a-f])/, (_: string, c: string) => `signature=${c === '0' ? '1' : '0'}`);
    assertProblem(await request(forged), 403, 'invalid_signature');
    const otherJob = completed.data.archive_url.replace(id, 'job_0000000000000000000000000');
    assertProblem(await request(otherJob), 403, 'invalid_signature');
  });

  test('a job with a file that is not an image at all is refused at submit (415, naming the file), and nothing is stored', async () => {
    const before = (await request(`${kiln.url}/v1/jobs?limit=100`, { key: alice.key })).body.data.length;
    const refused = await submitJob(alice.key, [photos[0]!, { name: 'notes.txt', bytes: Buffer.from('not an image at all') }], { output_format: 'jpeg' });
    assert.equal(refused.status, 415);
    assert.equal(refused.body.code, 'unsupported_input');
    assert.equal(refused.body.index, 1);
    assert.equal(refused.body.filename, 'notes.txt');
    assert.equal((await request(`${kiln.url}/v1/jobs?limit=100`, { key: alice.key })).body.data.length, before);
  });

  test('a job whose file is not a readable image ends failed, naming the file and its error code', async () => {
    // A JPEG's first bytes and no more: it passes the look at submit, and its conversion fails.
    const cut = { name: 'notes.jpg', bytes: photos[0]!.bytes.subarray(0, 300) };
    const submitted = await submitJob(alice.key, [photos[0]!, cut], {
      output_format: 'jpeg',
      width: '100',
      webhook_url: sink.url,
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(alice.key, submitted.body.id);
    assert.equal(job.status, 'failed');
    assert.deepEqual(job.counts, { total: 2, queued: 0, running: 0, succeeded: 1, failed: 1, cancelled: 0 });
    const events = await request(`${kiln.url}/v1/events?subject_id=${job.id}&type=job.failed`, { key: alice.key });
    assert.equal(events.body.data.length, 1);
    const failures = events.body.data[0].data.failures;
    assert.deepEqual(
      failures.map((failure: any) => [failure.index, failure.filename, failure.status, failure.error.code]),
      [[1, 'notes.jpg', 'failed', 'unsupported_input']],
    );
    // The same, as the receiver got and verified it.
    const delivered = await deliveredOnce(job.id, 'job.failed');
    assert.deepEqual(delivered.data.failures, failures);
    assert.deepEqual(delivered.data.counts, job.counts);
    assert.match(delivered.data.archive_url, /\/archive\?expires=/, 'the file that succeeded is in the archive');
  });

  test('a JSON job converts earlier uploads again, by conversion id, with per-input overrides', async () => {
    assert.equal(firstJobFiles.length, 3, 'runs after the multipart job');
    const submitted = await jsonRequest(`${kiln.url}/v1/jobs`, alice.key, 'POST', {
      output_format: 'jpeg',
      width: 64,
      inputs: [{ conversion_id: firstJobFiles[0].id }, { conversion_id: firstJobFiles[2].id, filename: 'again.jpg', options: { width: 48 } }],
      webhook_url: sink.url,
      webhook_events: ['job.completed'],
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await waitForJob(alice.key, submitted.body.id);
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.webhook_events, ['job.completed']);
    // Its webhook_url asked for job.completed alone: that is the one event of the job or its files with a delivery.
    await deliveredOnce(job.id, 'job.completed');
    const files_ = await jobFiles(alice.key, job.id);
    const subjects = [job.id, ...files_.map((file) => file.id)];
    const delivered: string[] = [];
    for (const subject of subjects) {
      for (const event of (await request(`${kiln.url}/v1/events?subject_id=${subject}`, { key: alice.key })).body.data) {
        const deliveries = (await request(`${kiln.url}/v1/webhooks/deliveries?event_id=${event.id}`, { key: alice.key })).body.data;
        if (deliveries.length > 0) delivered.push(event.type);
      }
    }
    assert.deepEqual(delivered, ['job.completed']);
    const files = await jobFiles(alice.key, job.id);
    assert.deepEqual(
      files.map((file) => [file.input.filename, file.options.width]),
      [
        [photos[0]!.name, 64],
        ['again.jpg', 48],
      ],
    );
    for (const file of files) {
      const decoded = await identify(Buffer.from(await (await fetch(file.download_url)).arrayBuffer()));
      assert.deepEqual([decoded.format, decoded.width], ['jpeg', file.options.width]);
    }
  });

  test('cancelling a job: files not started never start, finished ones stay, and it ends cancelled with its counts', async () => {
    const many = Array.from({ length: MAX_JOB_FILES }, (_, i) => photos[i % photos.length]!);
    const submitted = await submitJob(alice.key, many, { output_format: 'avif', concurrency: '1', webhook_url: sink.url });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    assertProblem(await request(`${kiln.url}/v1/jobs/${submitted.body.id}/archive`, { key: alice.key }), 409, 'job_not_finished');
    const cancelled = await request(`${kiln.url}/v1/jobs/${submitted.body.id}/cancel`, { method: 'POST', key: alice.key });
    assert.equal(cancelled.status, 202);
    const job = await waitForJob(alice.key, submitted.body.id);
    assert.equal(job.status, 'cancelled');
    const files = await jobFiles(alice.key, job.id);
    const statuses = files.map((file) => file.status);
    assert.ok(
      statuses.every((status) => status === 'succeeded' || status === 'cancelled'),
      statuses.join(),
    );
    assert.ok(statuses.at(-1) === 'cancelled', 'with one file at a time, the last file never started');
    assert.deepEqual(job.counts, {
      total: MAX_JOB_FILES,
      queued: 0,
      running: 0,
      succeeded: statuses.filter((s) => s === 'succeeded').length,
      failed: 0,
      cancelled: statuses.filter((s) => s === 'cancelled').length,
    });
    assertProblem(await request(`${kiln.url}/v1/jobs/${job.id}/cancel`, { method: 'POST', key: alice.key }), 409, 'job_finished');
    const delivered = await deliveredOnce(job.id, 'job.cancelled');
    assert.deepEqual(delivered.data.counts, job.counts);
    // Its archive holds what did finish, and nothing else.
    const archive = await fetchBytes(`${kiln.url}/v1/jobs/${job.id}/archive`, { headers: { authorization: `Bearer ${alice.key}` } });
    assert.equal(archive.status, 200);
    assert.equal((await openZip(archive.bytes, 'cancelled')).length, job.counts.succeeded);
  });

  test('a job streams its events over SSE; a client that drops mid-job resumes with Last-Event-ID and gets each event exactly once', async () => {
    const submitted = await submitJob(alice.key, [...photos, photos[0]!], { output_format: 'webp', concurrency: '1' });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    const JOB_TYPES = ['job.started', 'job.progress', 'job.completed', 'job.failed', 'job.cancelled'];
    type Seen = { id: string; type: string; data: any };

    // First client: the browser way, by the signed stream_url (no API key); it leaves after two events.
    const first: Seen[] = [];
    const firstSource = new EventSource(submitted.body.stream_url);
    await new Promise<void>((resolve, reject) => {
      for (const type of JOB_TYPES) {
        firstSource.addEventListener(type, (event) => {
          first.push({ id: event.lastEventId, type: event.type, data: JSON.parse(event.data) });
          if (first.length === 2) resolve();
        });
      }
      firstSource.addEventListener('error', (event) => reject(new Error(`first stream failed: ${event.message ?? ''}`)));
    });
    firstSource.close();

    // Second client: by API key, resuming after the last event the first one saw.
    const second: Seen[] = [];
    const resumeFrom = first.at(-1)!.id;
    const secondSource = new EventSource(`${kiln.url}/v1/jobs/${id}/events`, {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: { ...init.headers, authorization: `Bearer ${alice.key}`, ...(second.length === 0 ? { 'last-event-id': resumeFrom } : {}) },
        }),
    });
    for (const type of JOB_TYPES) {
      secondSource.addEventListener(type, (event) => second.push({ id: event.lastEventId, type: event.type, data: JSON.parse(event.data) }));
    }
    // The positive signal that the stream is over: the server ended it after job.completed, and the
    // EventSource's own reconnection (with Last-Event-ID = that event) got 204, which closes it for good.
    const deadline = Date.now() + 120_000;
    while (secondSource.readyState !== EventSource.CLOSED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(secondSource.readyState, EventSource.CLOSED, 'the stream closed after the final event');

    const stored = (await request(`${kiln.url}/v1/events?subject_id=${id}&limit=100`, { key: alice.key })).body.data.reverse();
    const streamed = [...first, ...second];
    assert.deepEqual(
      streamed.map((event) => event.id),
      stored.map((event: any) => event.id),
      'every event once, in the order stored',
    );
    assert.deepEqual(
      streamed.map((event) => event.type),
      ['job.started', 'job.progress', 'job.progress', 'job.progress', 'job.progress', 'job.completed'],
    );
    for (const event of streamed) {
      assert.equal(event.data.id, event.id, 'data is the body a webhook gets');
      assert.equal(event.data.type, event.type);
      assert.equal(event.data.data.job_id, id);
    }
    assert.match(streamed.at(-1)!.data.data.archive_url, /\/archive\?expires=/);

    // A reconnect after the end is told there is nothing more; a stranger's id is refused.
    const after_ = await fetch(`${kiln.url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${alice.key}`, 'last-event-id': streamed.at(-1)!.id } });
    assert.equal(after_.status, 204);
    const wrong = await request(`${kiln.url}/v1/jobs/${id}/events?last_event_id=${stored[0].id.replace(/.$/, (c: string) => (c === '0' ? '1' : '0'))}`, {
      key: alice.key,
    });
    assertProblem(wrong, 400, 'invalid_last_event_id');
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}/events`, { key: bob.key }), 404, 'job_not_found');
    assertProblem(await request(submitted.body.stream_url.replace('/jobs/', '/conversions/').replace(id, firstJobFiles[0].id)), 403, 'invalid_signature');
  });

  test('a conversion streams its own events; an idle stream sends keep-alives', async () => {
    // With the workers stopped nothing happens to the job: its stream has only keep-alives to send.
    await kiln.stopWorkers();
    let id: string;
    try {
      const submitted = await submitJob(alice.key, [photos[0]!], { output_format: 'png', width: '40' });
      id = submitted.body.id;
      const controller = new AbortController();
      const response = await fetch(`${kiln.url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${alice.key}` }, signal: controller.signal });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = response.body!.getReader();
      let text = '';
      while ((text.match(/^: keep-alive$/gm) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
      assert.doesNotMatch(text, /^event:/m, 'nothing but keep-alives while nothing happens');
      controller.abort();
    } finally {
      await kiln.startWorkers();
    }
    const job = await waitForJob(alice.key, id);
    const [file] = await jobFiles(alice.key, job.id);
    const body = await (await fetch(file.stream_url)).text();
    const frames = body.split('\n\n').filter((chunk) => chunk.startsWith('id:'));
    assert.deepEqual(
      frames.map((chunk) => /^event: (.+)$/m.exec(chunk)![1]),
      ['file.uploaded', 'conversion.started', 'conversion.completed'],
    );
    const completed = JSON.parse(/^data: (.+)$/m.exec(frames[2]!)![1]!);
    assert.equal(completed.data.conversion_id, file.id);
    assert.match(completed.data.download_url, /\/v1\/downloads\//);
  });

  test('a file cancelled on its own through the conversions API is never converted, and the job ends failed, listing it', async () => {
    // One file at a time, the second slow: the third is cancelled before the job starts it.
    const big = { name: 'big.jpg', bytes: await makeImage(3000, 2000) };
    const submitted = await submitJob(alice.key, [photos[0]!, big, photos[2]!], { output_format: 'avif', concurrency: '1' });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const last = (await jobFiles(alice.key, submitted.body.id))[2];
    const deadline = Date.now() + 60_000;
    while ((await request(`${kiln.url}/v1/jobs/${submitted.body.id}`, { key: alice.key })).body.counts.succeeded < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const cancelled = await request(`${kiln.url}/v1/conversions/${last.id}/cancel`, { method: 'POST', key: alice.key });
    assert.equal(cancelled.status, 202);
    assert.equal(cancelled.body.status, 'cancelled', 'not started yet: cancelled at once');
    const job = await waitForJob(alice.key, submitted.body.id);
    assert.equal(job.status, 'failed');
    assert.deepEqual(job.counts, { total: 3, queued: 0, running: 0, succeeded: 2, failed: 0, cancelled: 1 });
    const file = (await request(`${kiln.url}/v1/conversions/${last.id}`, { key: alice.key })).body;
    assert.deepEqual([file.status, file.started_at, file.output], ['cancelled', null, null], 'never converted');
    const failed = (await request(`${kiln.url}/v1/events?subject_id=${job.id}&type=job.failed`, { key: alice.key })).body.data[0];
    assert.deepEqual(
      failed.data.failures.map((failure: any) => [failure.index, failure.status, failure.error.code]),
      [[2, 'cancelled', 'cancelled']],
    );
    const fileEvents = (await request(`${kiln.url}/v1/events?subject_id=${last.id}`, { key: alice.key })).body.data.map((event: any) => event.type);
    assert.deepEqual(fileEvents.sort(), ['conversion.cancelled', 'file.uploaded']);
    // Its chunk found the row cancelled and counted it, once; the file is converted (or not) in the job's run, never its own.
    const progress = (await request(`${kiln.url}/v1/events?subject_id=${job.id}&type=job.progress`, { key: alice.key })).body.data;
    assert.deepEqual(
      progress.filter((event: any) => event.data.file.index === 2).map((event: any) => event.data.file.status),
      ['cancelled'],
    );
    assert.equal(file.workflow_id, `job-${job.id}`);
  });

  test("another account's job answers 404 everywhere, and its uploads cannot be named as inputs", async () => {
    const submitted = await submitJob(alice.key, [photos[0]!], { output_format: 'png', width: '32' });
    const id = submitted.body.id;
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}`, { key: bob.key }), 404, 'job_not_found');
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}/conversions`, { key: bob.key }), 404, 'job_not_found');
    assertProblem(await request(`${kiln.url}/v1/jobs/${id}/cancel`, { method: 'POST', key: bob.key }), 404, 'job_not_found');
    assert.ok(!(await request(`${kiln.url}/v1/jobs`, { key: bob.key })).body.data.some((job: any) => job.id === id));
    const stolen = await jsonRequest(`${kiln.url}/v1/jobs`, bob.key, 'POST', { output_format: 'png', inputs: [{ conversion_id: firstJobFiles[0].id }] });
    assertProblem(stolen, 422, 'source_not_found');
    assert.equal(stolen.body.errors[0].field, 'inputs[0].conversion_id');
    assertProblem(await request(`${kiln.url}/v1/jobs/job_nope`, { key: alice.key }), 404, 'job_not_found');
    await waitForJob(alice.key, id);
  });

  test('Idempotency-Key: the same job request twice makes one job; another request under the key is refused', async () => {
    const send = (files: Array<{ name: string; bytes: Buffer }>, width: string) =>
      request(`${kiln.url}/v1/jobs`, {
        method: 'POST',
        key: alice.key,
        headers: { 'idempotency-key': 'job-once-1' },
        body: jobForm(files, { output_format: 'png', width }),
      });
    const first = await send([photos[0]!, photos[1]!], '30');
    assert.equal(first.status, 202);
    const again = await send([photos[0]!, photos[1]!], '30');
    assert.equal(again.status, 202);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.body.id);
    assertProblem(await send([photos[1]!, photos[0]!], '30'), 422, 'idempotency_key_reused');
    const stored = await kiln.database.db.selectFrom('conversions').select('id').where('job_id', '=', first.body.id).execute();
    assert.equal(stored.length, 2, 'one set of files');
    await waitForJob(alice.key, first.body.id);
  });

  test('bad job requests answer 4xx with stable codes and store nothing', async () => {
    const before_ = (await kiln.database.db.selectFrom('jobs').select('id').execute()).length;
    const tooMany = Array.from({ length: MAX_JOB_FILES + 1 }, () => photos[0]!);
    assertProblem(await submitJob(alice.key, tooMany, { output_format: 'webp' }), 400, 'too_many_files');
    assertProblem(await submitJob(alice.key, [], { output_format: 'webp' }), 400, 'file_required');
    const badOverride = await submitJob(alice.key, [photos[0]!, photos[1]!], {
      output_format: 'webp',
      inputs: JSON.stringify([{}, { options: { width: 0 } }]),
    });
    assertProblem(badOverride, 400, 'invalid_options');
    assert.equal(badOverride.body.errors[0].field, 'inputs[1].options.width');
    assertProblem(await submitJob(alice.key, [photos[0]!], { output_format: 'webp', concurrency: '3' }), 400, 'invalid_options');
    assertProblem(await submitJob(alice.key, [photos[0]!], { output_format: 'bmp' }), 400, 'invalid_options');
    assertProblem(
      await jsonRequest(`${kiln.url}/v1/jobs`, alice.key, 'POST', {
        output_format: 'webp',
        inputs: Array.from({ length: MAX_JOB_FILES + 1 }, () => ({ conversion_id: firstJobFiles[0].id })),
      }),
      400,
      'too_many_files',
    );
    assertProblem(await jsonRequest(`${kiln.url}/v1/jobs`, alice.key, 'POST', { output_format: 'webp', inputs: [] }), 400, 'invalid_body');
    assertProblem(
      await jsonRequest(`${kiln.url}/v1/jobs`, alice.key, 'POST', { output_format: 'webp', inputs: [{ url: 'https://example.com/a.jpg' }] }),
      400,
      'invalid_body',
    );
    assertProblem(
      await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: alice.key, body: 'hello', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    assert.equal((await kiln.database.db.selectFrom('jobs').select('id').execute()).length, before_);
  });
});
