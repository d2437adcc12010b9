import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/temp.js';
import { freePort } from '../support/postgres.js';
import { request } from '../support/http.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { killHard, killSpawned, spawnKiln, stopGracefully, waitUntil } from '../support/processes.js';

const dir = tempDir('delivery-kill');
let receiver: Receiver | undefined;
after(async () => {
  await killSpawned();
  // An open receiver would keep this test file's process alive after a failure.
  await receiver?.close();
  dir.remove();
});

const EVENTS = 80;

test('kiln dev SIGKILLed during a burst of deliveries: after a restart every delivery ends succeeded and every event arrived', async () => {
  // A receiver that takes a while to answer keeps deliveries in flight when the kill lands.
  const sink = await startReceiver([{ status: 204, delayMs: 150 }]);
  receiver = sink;
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const env = { ...ports, KILN_DATA_DIR: dir.path };
  const api = `http://127.0.0.1:${ports.PORT}`;
  const startDev = async () => {
    const child = spawnKiln(['dev'], env);
    await waitUntil(() => child.output().includes('Kiln is running.') || child.exitCode !== null, 180_000, 'kiln dev to start');
    assert.equal(child.exitCode, null, child.output());
    return child;
  };
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const first = await startDev();
  const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
  const endpoint = await request(`${api}/v1/webhooks/endpoints`, { method: 'POST', key, ...json({ url: `${sink.url}` }) });
  assert.equal(endpoint.status, 201);

  // A burst of test events, eight requests at a time; the kill lands while it is under way.
  const accepted: string[] = [];
  let sent = 0;
  const senders = Array.from({ length: 8 }, async () => {
    while (sent < EVENTS) {
      sent++;
      try {
        const response = await request(`${api}/v1/webhooks/endpoints/${endpoint.body.id}/test`, { method: 'POST', key });
        if (response.status === 202) accepted.push(response.body.event_id);
      } catch {
        return; // the process was killed under this request
      }
    }
  });
  const pendingNow = async () => (await request(`${api}/v1/webhooks/deliveries?status=pending&limit=1`, { key })).body.data.length > 0;
  // The positive signal that the kill interrupts work: deliveries are still pending just before it.
  await waitUntil(async () => sink.requests.length >= 10 && (await pendingNow()), 60_000, 'deliveries under way');
  await killHard(first);
  await Promise.all(senders);

  const second = await startDev();
  try {
    // Pending rows are finished by their workflows, or started by the reconcile schedule (within about 90 s).
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
  } finally {
    assert.equal(await stopGracefully(second, 60_000), 0, second.output());
  }
});
