import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, request, uploadForm } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { EVENT_TYPES } from '../../src/model/event-catalog.js';

type Seen = { id: string; type: string; subject: string };

/**
 * What clients wait with: the account-wide event stream (SSE, resumable) and `Prefer: wait`
 * / `?wait=`, against the dev server with real converters.
 */
describe('the account event stream and waiting for a conversion', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };
  let image: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded');
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
    bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
    image = await makeImage(64, 48, 'png');
  });
  after(async () => kiln?.stop());

  const upload = (key: string, headers: Record<string, string> = {}) =>
    request(`${kiln.url}/v1/conversions`, { method: 'POST', key, headers, body: uploadForm(image, 'in.png', { output_format: 'webp' }) });

  /** Opens the account's stream with `query`, resuming after `lastEventId` when given; collects what it sends. */
  function open(key: string, query = '', lastEventId?: string): { seen: Seen[]; source: EventSource } {
    const seen: Seen[] = [];
    let first = true;
    const source = new EventSource(`${kiln.url}/v1/events/stream${query}`, {
      fetch: (input, init) => {
        const resume: Record<string, string> = first && lastEventId ? { 'last-event-id': lastEventId } : {};
        first = false;
        return fetch(input, { ...init, headers: { ...init.headers, authorization: `Bearer ${key}`, ...resume } });
      },
    });
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => seen.push({ id: event.lastEventId, type: event.type, subject: JSON.parse(event.data).data.conversion_id }));
    }
    return { seen, source };
  }

  const opened = (source: EventSource) => waitUntil(() => source.readyState === EventSource.OPEN, 10_000, 'the stream to open');

  test("the stream sends the account's events as they are stored, only its own, and resumes after Last-Event-ID", async () => {
    const stream = open(alice.key);
    await opened(stream.source);
    const first = (await upload(alice.key)).body.id;
    await upload(bob.key);
    await waitUntil(() => stream.seen.some((e) => e.type === 'conversion.completed' && e.subject === first), 60_000, "the first conversion's end");
    assert.deepEqual(
      stream.seen.filter((e) => e.subject === first).map((e) => e.type),
      ['file.uploaded', 'conversion.started', 'conversion.completed'],
    );
    assert.ok(
      stream.seen.every((e) => e.subject === first),
      `only alice's: ${stream.seen.map((e) => e.subject).join(', ')}`,
    );
    stream.source.close();

    // While nobody listens, another conversion runs to its end; a stream resumed after the last event seen gets all of it, once.
    const second = (await upload(alice.key)).body.id;
    await waitUntil(async () => (await request(`${kiln.url}/v1/conversions/${second}`, { key: alice.key })).body.status === 'succeeded', 60_000, 'the second');
    const resumed = open(alice.key, '', stream.seen.at(-1)!.id);
    await waitUntil(() => resumed.seen.some((e) => e.type === 'conversion.completed'), 30_000, 'the resumed stream to catch up');
    resumed.source.close();
    assert.deepEqual(
      resumed.seen.map((e) => `${e.subject} ${e.type}`),
      ['file.uploaded', 'conversion.started', 'conversion.completed'].map((type) => `${second} ${type}`),
    );
  });

  test('filters by type and subject; bad filters and resume points answer 400', async () => {
    const completions = open(alice.key, '?type=conversion.completed,conversion.failed');
    await opened(completions.source);
    const id = (await upload(alice.key)).body.id;
    await waitUntil(() => completions.seen.length > 0, 60_000, 'a completion');
    completions.source.close();
    assert.deepEqual(
      completions.seen.map((e) => `${e.subject} ${e.type}`),
      [`${id} conversion.completed`],
    );

    assertProblem(await request(`${kiln.url}/v1/events/stream?type=nope`, { key: alice.key }), 400, 'invalid_parameter');
    assertProblem(await request(`${kiln.url}/v1/events/stream?subject_id=x`, { key: alice.key }), 400, 'invalid_parameter');
    // Another account's event is no resume point.
    const bobs = (await request(`${kiln.url}/v1/events?limit=1`, { key: bob.key })).body.data[0].id;
    assertProblem(await request(`${kiln.url}/v1/events/stream`, { key: alice.key, headers: { 'last-event-id': bobs } }), 400, 'invalid_last_event_id');
  });

  test('Prefer: wait holds the upload until the conversion ends: 200 as it ended; GET ?wait= likewise', async () => {
    const held = await upload(alice.key, { prefer: 'wait=30' });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    assert.equal(held.body.status, 'succeeded');
    assert.equal(held.headers.get('preference-applied'), 'wait=30');
    assert.equal(held.headers.get('location'), `/v1/conversions/${held.body.id}`);

    const plain = await upload(alice.key);
    assert.equal(plain.status, 202);
    const waited = await request(`${kiln.url}/v1/conversions/${plain.body.id}?wait=30`, { key: alice.key });
    assert.equal(waited.body.status, 'succeeded');
    assertProblem(await request(`${kiln.url}/v1/conversions/${plain.body.id}?wait=61`, { key: alice.key }), 400, 'invalid_parameter');
  });

  test('a wait that runs out answers 202 (or the conversion as it stands) after its seconds', async () => {
    await kiln.stopWorkers();
    try {
      const held = await upload(alice.key, { prefer: 'respond-async, wait=1' });
      assert.equal(held.status, 202);
      assert.equal(held.body.status, 'queued');
      assert.equal(held.headers.get('preference-applied'), 'wait=1');
      const waited = await request(`${kiln.url}/v1/conversions/${held.body.id}?wait=1`, { key: alice.key });
      assert.equal(waited.status, 200);
      assert.equal(waited.body.status, 'queued');
    } finally {
      await kiln.startWorkers();
    }
  });

  test('background work gives way to a request until its answer, not while the request is held waiting', async () => {
    const { requests } = kiln.database;
    await kiln.stopWorkers();
    try {
      const queued = (await upload(alice.key)).body.id;
      let heldEnded = false;
      const held = request(`${kiln.url}/v1/conversions/${queued}?wait=8`, { key: alice.key }).finally(() => (heldEnded = true));

      // An upload whose body comes in two parts: under way from its first byte to its answer.
      const form = new Response(uploadForm(image, 'in.png', { output_format: 'webp' }));
      const body = new Uint8Array(await form.arrayBuffer());
      let sendRest!: () => void;
      const rest = new Promise<void>((resolve) => (sendRest = resolve));
      const parts = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(body.subarray(0, 100));
          await rest;
          controller.enqueue(body.subarray(100));
          controller.close();
        },
      });
      const slow = fetch(`${kiln.url}/v1/conversions`, {
        method: 'POST',
        body: parts,
        duplex: 'half',
        headers: { authorization: `Bearer ${alice.key}`, 'content-type': form.headers.get('content-type') ?? '' },
      });
      await waitUntil(() => requests.busy, 10_000, 'the slow upload to count as under way');
      sendRest();
      assert.equal((await slow).status, 202);
      // The held request still waits (8 s), and counts no more.
      await waitUntil(() => !requests.busy, 4_000, 'no request under way but the held one');
      assert.equal(heldEnded, false, 'the held request was still waiting');
      assert.equal((await held).body.status, 'queued');
    } finally {
      await kiln.startWorkers();
    }
  });
});
