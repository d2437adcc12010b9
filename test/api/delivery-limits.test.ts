import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest, request, uploadForm } from '../support/http.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';

/**
 * Deliveries under load, with real receivers on loopback, the dev server and real workers:
 * a throttled endpoint, and one account's burst beside another's retry. What is asserted is
 * order and rate floors (a throttled stream can only be slower than its limit allows), never
 * that something was fast.
 */
describe('webhook deliveries: throttle and fairness', () => {
  let kiln: TestKiln;
  const receivers: Receiver[] = [];

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      // Few slots, so one account's burst is a real queue.
      KILN_DELIVER_CONCURRENCY: '8',
    });
  });
  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await kiln?.stop();
  });

  const api = (path: string, key: string, method = 'GET', body?: unknown) => jsonRequest(`${kiln.url}${path}`, key, method, body);

  async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
    const started = await startReceiver(...args);
    receivers.push(started);
    return started;
  }

  test('a throttled endpoint receives no faster than its rate_limit; every delivery arrives once, none failed', { timeout: 120_000 }, async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'throttled');
    const target = await receiver();
    const RATE = 2;
    const COUNT = 12;
    const endpoint = (await api('/v1/webhooks/endpoints', account.key, 'POST', { url: target.url, rate_limit: RATE })).body;
    assert.equal(endpoint.rate_limit, RATE);
    const sent: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const test = await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
      assert.equal(test.status, 202, JSON.stringify(test.body));
      sent.push(test.body.event_id);
    }
    const requests = await target.waitForRequests(COUNT, 60_000);
    const times = requests.map((r) => r.receivedAt).sort((a, b) => a - b);
    // A second's worth may go together; the rest come one turn (1/RATE s) apart at the least.
    const floorMs = ((COUNT - RATE) / RATE) * 1000;
    const spanMs = times.at(-1)! - times[0]!;
    console.log(`${COUNT} deliveries at ${RATE}/s arrived over ${spanMs} ms (floor ${floorMs} ms)`);
    assert.ok(spanMs >= floorMs - 100, `arrived over ${spanMs} ms, faster than ${RATE}/s`);

    const deliveries = await Promise.all(
      sent.map(async (eventId) => {
        let found: any;
        await waitUntil(
          async () => {
            found = (await api(`/v1/webhooks/deliveries?event_id=${eventId}`, account.key)).body.data[0];
            return found?.status === 'succeeded';
          },
          30_000,
          `the delivery of ${eventId} to succeed`,
        );
        return found;
      }),
    );
    // Waiting for a turn is not an attempt, nor a failure.
    for (const delivery of deliveries) assert.equal(delivery.attempt_count, 1, JSON.stringify(delivery));
    const throttled = deliveries.filter((d) => d.throttled_count > 0);
    assert.ok(throttled.length >= COUNT - RATE - 1, `${throttled.length} deliveries say they were throttled`);
    // The turns the throttle gave are at most RATE within any second, and no delivery arrived before its turn
    // (one sent late may arrive beside a later one: the turns, not the arrivals, are what a loaded machine cannot bunch).
    const turns = throttled.map((d) => Date.parse(d.throttled_until)).sort((a, b) => a - b);
    for (let i = 0; i + RATE < turns.length; i++) assert.ok(turns[i + RATE]! - turns[i]! >= 1000 - 5, `more than ${RATE} turns within a second at ${i}`);
    const arrivals = new Map(requests.map((r) => [JSON.parse(r.body).id as string, r.receivedAt]));
    for (const delivery of throttled) {
      assert.ok(Date.parse(delivery.throttled_until) > Date.parse(delivery.created_at));
      assert.ok(arrivals.get(delivery.event_id)! >= Date.parse(delivery.throttled_until) - 5, `${delivery.id} arrived before its turn`);
    }
    assert.deepEqual(new Set(requests.map((r) => JSON.parse(r.body).id)), new Set(sent));
    assert.equal(target.requests.length, COUNT);
  });

  test("one account's burst to hundreds of endpoints does not hold back another account's first attempt or retry", { timeout: 300_000 }, async () => {
    const ENDPOINTS = 75;
    const UPLOADS = 4;
    const busy = await createAccount(kiln.url, kiln.adminToken, 'burst');
    const quiet = await createAccount(kiln.url, kiln.adminToken, 'quiet');
    // A slow receiver: with 8 slots, the busy account's 300 deliveries take over half a minute to go out.
    const slow = await receiver([{ status: 200, delayMs: 1000 }]);
    for (let i = 0; i < ENDPOINTS; i++) {
      const created = await api('/v1/webhooks/endpoints', busy.key, 'POST', { url: `${slow.url}/e${i}`, event_types: ['file.uploaded'] });
      assert.equal(created.status, 201);
    }
    const quietTarget = await receiver([{ status: 500 }, { status: 200 }]);
    const quietEndpoint = (await api('/v1/webhooks/endpoints', quiet.key, 'POST', { url: quietTarget.url, retry_schedule: ['2s'] })).body;

    const image = await makeImage(32, 32, 'png');
    for (let i = 0; i < UPLOADS; i++) {
      const upload = await request(`${kiln.url}/v1/conversions`, {
        method: 'POST',
        key: busy.key,
        body: uploadForm(image, 'in.png', { output_format: 'webp' }),
      });
      assert.equal(upload.status, 202);
    }
    const total = ENDPOINTS * UPLOADS;
    await slow.waitForRequests(20, 60_000);
    const test = await api(`/v1/webhooks/endpoints/${quietEndpoint.id}/test`, quiet.key, 'POST');
    assert.equal(test.status, 202);

    const [first, retry] = await quietTarget.waitForRequests(2, 120_000);
    const busyBefore = (at: number) => slow.requests.filter((r) => r.receivedAt <= at).length;
    console.log(
      `the quiet account's first attempt came after ${busyBefore(first!.receivedAt)} and its retry after ${busyBefore(retry!.receivedAt)} of the busy account's ${total} deliveries`,
    );
    const delivery = (await api(`/v1/webhooks/deliveries?event_id=${test.body.event_id}`, quiet.key)).body.data[0];
    const attempts = (await api(`/v1/webhooks/deliveries/${delivery.id}`, quiet.key)).body.attempts;
    const due = Date.parse(attempts[0].started_at) + attempts[0].duration_ms + 2000;
    console.log(`the retry was made ${Date.parse(attempts[1].started_at) - due} ms after it was due`);
    assert.ok(busyBefore(first!.receivedAt) < total / 4, `the first attempt waited behind ${busyBefore(first!.receivedAt)} of ${total}`);
    assert.ok(busyBefore(retry!.receivedAt) < total / 2, `the retry waited behind ${busyBefore(retry!.receivedAt)} of ${total}`);

    // Every one of the burst's deliveries arrives, once.
    await slow.waitForRequests(total, 240_000);
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries?limit=1&status=pending`, busy.key)).body.data.length === 0,
      120_000,
      'no delivery of the burst to be pending',
    );
    assert.equal(new Set(slow.requests.map((r) => `${r.path} ${JSON.parse(r.body).id}`)).size, total);
    assert.equal(slow.requests.length, total);
    // Beyond the 32 an account may hold in memory (4 per slot), the burst waited in the database, not on Temporal.
    let withWorkflow = 0;
    for (let cursor: string | null = null; ;) {
      const page: any = (await api(`/v1/webhooks/deliveries?limit=100${cursor ? `&cursor=${cursor}` : ''}`, busy.key)).body;
      withWorkflow += page.data.filter((d: any) => d.workflow_id !== null).length;
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    console.log(`${withWorkflow} of the burst's ${total} deliveries needed a workflow`);
    assert.ok(withWorkflow < total / 2, `${withWorkflow} of ${total} went to workflows`);
  });
});
