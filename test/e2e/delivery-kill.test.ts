import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/temp.js';
import { freePort } from '../support/postgres.js';
import { request, uploadForm } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { killHard, killSpawned, startKilnDev, stopGracefully, waitUntil } from '../support/processes.js';

const dir = tempDir('delivery-kill');
let receiver: Receiver | undefined;
after(async () => {
  await killSpawned();
  // An open receiver would keep this test file's process alive after a failure.
  await receiver?.close();
  dir.remove();
});

const TEST_EVENTS = 60;
const UPLOADS = 30;

test('kiln dev SIGKILLed during a burst of deliveries: after a restart every delivery ends succeeded and every event arrived', async () => {
  const image = await makeImage(32, 24);
  // A receiver that takes a while to answer keeps first attempts in flight when the kill lands;
  // it turns down each test event once, so those deliveries go on in workflows, on their schedule.
  const seen = new Set<string>();
  const sink = await startReceiver([], {
    decide: (received) => {
      const id = String(received.headers['webhook-id']);
      const first = !seen.has(id);
      seen.add(id);
      if (first && received.headers['x-kiln-event'] === 'webhook.test') return { status: 503, body: 'come back later' };
      return { status: 204, delayMs: 150 };
    },
  });
  receiver = sink;
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  // A short request timeout shortens the reconcile schedule's grace for first attempts cut off by the kill.
  const env = { ...ports, KILN_DATA_DIR: dir.path, KILN_WEBHOOK_TIMEOUT_SECONDS: '2' };
  const api = `http://127.0.0.1:${ports.PORT}`;
  const startDev = () => startKilnDev(env);
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const first = await startDev();
  const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
  const endpoint = await request(`${api}/v1/webhooks/endpoints`, { method: 'POST', key, ...json({ url: `${sink.url}`, retry_schedule: ['1s'] }) });
  assert.equal(endpoint.status, 201);

  // A burst of test events and of conversions, four requests of each kind at a time; the kill
  // lands while it is under way.
  const accepted: string[] = [];
  const conversions: string[] = [];
  let sentEvents = 0;
  let sentUploads = 0;
  const eventSenders = Array.from({ length: 4 }, async () => {
    while (sentEvents < TEST_EVENTS) {
      sentEvents++;
      try {
        const response = await request(`${api}/v1/webhooks/endpoints/${endpoint.body.id}/test`, { method: 'POST', key });
        if (response.status === 202) accepted.push(response.body.event_id);
      } catch {
        return; // the process was killed under this request
      }
    }
  });
  const uploadSenders = Array.from({ length: 4 }, async () => {
    while (sentUploads < UPLOADS) {
      sentUploads++;
      try {
        const response = await request(`${api}/v1/conversions`, { method: 'POST', key, body: uploadForm(image, 'tiny.jpg', { output_format: 'png' }) });
        if (response.status === 202) conversions.push(response.body.id);
      } catch {
        return;
      }
    }
  });
  const senders = [...eventSenders, ...uploadSenders];
  // The positive signal that the kill interrupts work of both kinds: just before it, deliveries
  // are pending both in workflows (test events waiting for their retry) and in first attempts
  // (conversion events, no workflow).
  const pendingKinds = async () => {
    const pending: Array<{ workflow_id: string | null; event_type: string }> = (
      await request(`${api}/v1/webhooks/deliveries?status=pending&limit=100`, { key })
    ).body.data;
    return {
      inWorkflows: pending.some((d) => d.workflow_id !== null),
      // Conversion events are the worker's to deliver first (test events go to workflows from the API).
      firstAttempts: pending.some((d) => d.workflow_id === null && d.event_type !== 'webhook.test'),
    };
  };
  await waitUntil(
    async () => {
      if (sink.requests.length < 10) return false;
      const kinds = await pendingKinds();
      return kinds.inWorkflows && kinds.firstAttempts;
    },
    60_000,
    'deliveries under way in workflows and in first attempts',
    50,
  );
  await killHard(first);
  await Promise.all(senders);

  const second = await startDev();
  try {
    // Every accepted conversion finishes (its workflow resumes), publishing the events still to come.
    await waitUntil(
      async () => {
        for (const id of conversions) if ((await request(`${api}/v1/conversions/${id}`, { key })).body.status !== 'succeeded') return false;
        return true;
      },
      120_000,
      'every accepted conversion to finish',
      1000,
    );
    // Pending rows are finished by their workflows, or started by the reconcile schedule (a
    // first attempt cut off by the kill: after its grace of about 50 s, at the next minute).
    const pending = async () => (await request(`${api}/v1/webhooks/deliveries?status=pending&limit=1`, { key })).body.data.length;
    await waitUntil(async () => (await pending()) === 0, 240_000, 'every delivery to end', 2000);

    const deliveries: Array<{ event_id: string; status: string }> = [];
    let cursor: string | null = null;
    do {
      const page = await request(`${api}/v1/webhooks/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { key });
      deliveries.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.ok(deliveries.length >= accepted.length, `${deliveries.length} deliveries for ${accepted.length} accepted events`);
    assert.deepEqual(
      deliveries.filter((d) => d.status !== 'succeeded'),
      [],
      'every delivery ended succeeded',
    );
    const received = new Set(sink.requests.map((r) => String(r.headers['webhook-id'])));
    const missing = deliveries.map((d) => d.event_id).filter((id) => !received.has(id));
    assert.deepEqual(missing, [], 'the receiver got every stored event at least once');
    for (const id of accepted) assert.ok(received.has(id), `accepted event ${id} arrived`);
    // Every one of an accepted conversion's events reached the receiver.
    for (const id of conversions) {
      const events: Array<{ id: string; type: string }> = (await request(`${api}/v1/events?subject_id=${id}`, { key })).body.data;
      assert.deepEqual(events.map((e) => e.type).sort(), ['conversion.completed', 'conversion.started', 'file.uploaded']);
      for (const event of events) assert.ok(received.has(event.id), `${event.type} of ${id} arrived`);
    }
  } finally {
    assert.equal(await stopGracefully(second, 60_000), 0, second.output());
  }
});
