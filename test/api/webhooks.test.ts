import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { startReceiver, verifyDelivery, type Receiver } from '../support/receiver.js';
import { identify, makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { EVENT_CATALOG, type EventType } from '../../src/model/event-catalog.js';
import { publishEvent } from '../../src/events/publish.js';
import { findEndpointById } from '../../src/db/webhook-endpoints.js';
import { recordAttempts } from '../../src/db/deliveries.js';
import { startStrandedWork, type ReconcileOptions } from '../../src/temporal/reconcile.js';
import { WorkflowNotFoundError } from '@temporalio/client';
import { runEnding } from '../support/temporal.js';

/**
 * Webhooks end to end: a real Temporal dev server, embedded Postgres, the API and workers
 * in this process, and real HTTP receivers on loopback (allowed by KILN_WEBHOOK_ALLOWED_CIDRS).
 * The default schedule is shortened to 1s,1s so retries happen within the test.
 */
describe('webhooks through the API', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string; webhookSecret: string };
  let bob: { id: string; key: string; webhookSecret: string };
  const receivers: Receiver[] = [];

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      KILN_WEBHOOK_RETRY_SCHEDULE: '1s,1s',
      KILN_WEBHOOK_TIMEOUT_SECONDS: '3',
    });
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
    bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
  });

  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await kiln?.stop();
  });

  async function receiver(...replies: Array<{ status: number; headers?: Record<string, string>; body?: string }>): Promise<Receiver> {
    const started = await startReceiver(replies.length ? replies : [{ status: 200 }]);
    receivers.push(started);
    return started;
  }

  const api = (path: string, key: string, method = 'GET', body?: unknown) => jsonRequest(`${kiln.url}${path}`, key, method, body);

  /** The reconcile schedule's pass with no grace: everything stranded counts as stranded now. */
  const reconcileAtOnce = (): ReconcileOptions => ({
    conversionGraceSeconds: 0,
    deliveryGraceSeconds: 0,
    conversion: { heartbeatTimeoutSeconds: 5, timeLimitSeconds: 60 },
    requestTimeoutSeconds: 3,
    defaultRetrySchedule: kiln.config.webhookRetrySchedule,
  });

  async function createEndpoint(key: string, body: Record<string, unknown>) {
    const created = await api('/v1/webhooks/endpoints', key, 'POST', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body;
  }

  async function deliveriesOf(key: string, query: string): Promise<any[]> {
    const listed = await api(`/v1/webhooks/deliveries?${query}`, key);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    return listed.body.data;
  }

  async function waitForDeliveries(key: string, query: string, done: (rows: any[]) => boolean, what: string): Promise<any[]> {
    let rows: any[] = [];
    await waitUntil(async () => done((rows = await deliveriesOf(key, query))), 60_000, what, 250);
    return rows;
  }

  test('endpoints: create, read, list, update, rotate and delete, with clear errors', async () => {
    const created = await createEndpoint(alice.key, {
      url: 'https://hooks.example.com/kiln',
      event_types: ['conversion.completed'],
      description: 'orders service',
      retry_schedule: ['5s', '1m'],
    });
    assert.match(created.id, /^ep_[0-9a-z]{23}$/);
    assert.match(created.secret, /^whsec_/);
    assert.ok(Buffer.from(created.secret.slice(6), 'base64').length >= 24);
    assert.deepEqual(created.retry_schedule, ['5s', '1m']);
    assert.equal(created.retry_schedule_is_default, false);
    assert.equal(created.enabled, true);
    assert.deepEqual(created.tags, []);

    const fetched = await api(`/v1/webhooks/endpoints/${created.id}`, alice.key);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.secret, undefined, 'the secret is shown only on create and at /secret');
    assert.equal(fetched.body.description, 'orders service');

    const patched = await api(`/v1/webhooks/endpoints/${created.id}`, alice.key, 'PATCH', { enabled: false, retry_schedule: null, tags: ['thumbs'] });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.enabled, false);
    assert.deepEqual(patched.body.retry_schedule, ['1s', '1s']);
    assert.equal(patched.body.retry_schedule_is_default, true);
    assert.deepEqual(patched.body.tags, ['thumbs']);

    const secret = await api(`/v1/webhooks/endpoints/${created.id}/secret`, alice.key);
    assert.equal(secret.body.secret, created.secret);
    const rotated = await api(`/v1/webhooks/endpoints/${created.id}/rotate-secret`, alice.key, 'POST');
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.secret, created.secret);
    const overlapHours = (Date.parse(rotated.body.previous_secret_expires_at) - Date.now()) / 3_600_000;
    assert.ok(overlapHours > 23.9 && overlapHours <= 24, `overlap ${overlapHours} h`);
    assert.equal((await api(`/v1/webhooks/endpoints/${created.id}/secret`, alice.key)).body.secret, rotated.body.secret);

    const second = await createEndpoint(alice.key, { url: 'https://hooks.example.com/second' });
    const firstPage = await api('/v1/webhooks/endpoints?limit=1', alice.key);
    assert.equal(firstPage.body.data.length, 1);
    assert.equal(firstPage.body.data[0].id, second.id);
    const secondPage = await api(`/v1/webhooks/endpoints?limit=1&cursor=${firstPage.body.next_cursor}`, alice.key);
    assert.equal(secondPage.body.data[0].id, created.id);

    assert.equal((await api(`/v1/webhooks/endpoints/${created.id}`, alice.key, 'DELETE')).status, 204);
    assertProblem(await api(`/v1/webhooks/endpoints/${created.id}`, alice.key), 404, 'endpoint_not_found');
    await api(`/v1/webhooks/endpoints/${second.id}`, alice.key, 'DELETE');

    assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', {}), 400, 'invalid_body');
    assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'ftp://example.com/x' }), 400, 'invalid_url');
    assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'not a url' }), 400, 'invalid_url');
    assertProblem(
      await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'https://a.example', event_types: ['conversion.exploded'] }),
      400,
      'unknown_event_type',
    );
    assertProblem(
      await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'https://a.example', retry_schedule: ['soon'] }),
      400,
      'invalid_retry_schedule',
    );
    assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'https://a.example', colour: 'red' }), 400, 'invalid_body');
    assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: 'https://a.example', enabled: 'yes' }), 400, 'invalid_body');
    for (const refused of ['http://169.254.169.254/latest', 'http://10.1.2.3/', 'http://[::1]:9/', 'http://[fd00::1]/', 'http://0.0.0.0/']) {
      assertProblem(await api('/v1/webhooks/endpoints', alice.key, 'POST', { url: refused }), 422, 'blocked_address');
    }
  });

  test('the event-type catalog describes every type with a JSON Schema', async () => {
    const listed = await api('/v1/webhooks/event-types', alice.key);
    assert.equal(listed.status, 200);
    const types = listed.body.data.map((t: any) => t.type);
    for (const type of ['file.uploaded', 'conversion.started', 'conversion.completed', 'conversion.failed', 'webhook.test'])
      assert.ok(types.includes(type), type);
    const completed = listed.body.data.find((t: any) => t.type === 'conversion.completed');
    assert.ok(completed.description);
    assert.equal(completed.schema.type, 'object');
    assert.ok(completed.schema.required.includes('download_url'));
    // Each type's example is a body of that type whose data its own schema takes.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    for (const described of listed.body.data) {
      assert.equal(described.example.type, described.type);
      assert.match(described.example.id, /^evt_/);
      const validate = ajv.compile(described.schema);
      assert.ok(validate(described.example.data), `${described.type}: ${ajv.errorsText(validate.errors)}`);
    }
  });

  test('the account secret is shown at creation and at /v1/webhooks/secret, and rotates', async () => {
    assert.match(alice.webhookSecret, /^whsec_/);
    const shown = await api('/v1/webhooks/secret', alice.key);
    assert.equal(shown.body.secret, alice.webhookSecret);
    const account = await createAccount(kiln.url, kiln.adminToken, 'rotator');
    const rotated = await api('/v1/webhooks/secret/rotate', account.key, 'POST');
    assert.notEqual(rotated.body.secret, account.webhookSecret);
    assert.ok(rotated.body.previous_secret_expires_at);
  });

  test('a conversion delivers signed events to a subscribed endpoint and to its own webhook_url', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'e2e');
    const endpointSink = await receiver();
    const requestSink = await receiver();
    const filteredSink = await receiver();
    const endpoint = await createEndpoint(account.key, { url: endpointSink.url });
    // Subscribed to another tag: must hear nothing of this conversion.
    await createEndpoint(account.key, { url: filteredSink.url, tags: ['avatars'] });
    const thumbsOnly = await createEndpoint(account.key, { url: filteredSink.url, tags: ['thumbs'], event_types: ['conversion.completed'] });

    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(await makeImage(400, 300), 'photo.jpg', {
        output_format: 'webp',
        width: '200',
        webhook_url: requestSink.url,
        webhook_metadata: JSON.stringify({ order: 42, note: 'ünïcode' }),
        tag: 'thumbs',
      }),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.webhook_url, requestSink.url);
    assert.deepEqual(accepted.body.webhook_metadata, { order: 42, note: 'ünïcode' });
    const done = await waitForConversion(kiln.url, account.key, accepted.body.id);
    assert.equal(done.status, 'succeeded');

    await endpointSink.waitForRequests(3);
    await requestSink.waitForRequests(3);
    await filteredSink.waitForRequests(1);
    await new Promise((r) => setTimeout(r, 500)); // room for a stray delivery that should not come

    const expected = ['file.uploaded', 'conversion.started', 'conversion.completed'];
    for (const [sink, secret] of [
      [endpointSink, endpoint.secret],
      [requestSink, account.webhookSecret],
    ] as const) {
      assert.deepEqual(sink.requests.map((r) => r.headers['x-kiln-event']).sort(), [...expected].sort());
      for (const received of sink.requests) {
        const payload = verifyDelivery(received, secret) as any;
        assert.equal(received.headers['webhook-id'], payload.id);
        assert.match(payload.id, /^evt_/);
        assert.equal(payload.data.conversion_id, accepted.body.id);
        assert.deepEqual(payload.data.metadata, { order: 42, note: 'ünïcode' });
        // The catalog's schema is the contract: every real payload matches it, with no extra fields.
        EVENT_CATALOG[payload.type as EventType].data.strict().parse(payload.data);
        assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
        const event = await api(`/v1/events/${payload.id}`, account.key);
        assert.equal(event.status, 200);
        assert.equal(event.body.type, payload.type);
      }
      const completed = sink.requests.find((r) => r.headers['x-kiln-event'] === 'conversion.completed')!;
      const data = JSON.parse(completed.body).data;
      assert.equal(data.status, 'succeeded');
      assert.deepEqual([data.output.format, data.output.width, data.output.height], ['webp', 200, 150]);
      assert.ok(Date.parse(data.download_expires_at) > Date.now());
      const download = await fetch(data.download_url);
      assert.equal(download.status, 200);
      assert.deepEqual(await identify(Buffer.from(await download.arrayBuffer())), { format: 'webp', width: 200, height: 150 });
    }
    assert.equal(filteredSink.requests.length, 1, 'only the thumbs endpoint, only for conversion.completed');
    verifyDelivery(filteredSink.requests[0]!, thumbsOnly.secret);

    const deliveries = await waitForDeliveries(
      account.key,
      `endpoint_id=${endpoint.id}`,
      (rows) => rows.length === 3 && rows.every((r) => r.status === 'succeeded'),
      'three succeeded deliveries',
    );
    for (const delivery of deliveries) {
      assert.match(delivery.id, /^dlv_/);
      assert.equal(delivery.attempt_count, 1);
      assert.equal(delivery.last_status_code, 200);
      // Delivered by the worker's first attempt: no workflow was needed, and none was started.
      assert.equal(delivery.workflow_id, null);
      await assert.rejects(kiln.env.client.workflow.getHandle(`delivery-${delivery.event_id}-${endpoint.id}`).describe(), WorkflowNotFoundError);
    }
    const completedOnly = await deliveriesOf(account.key, 'event_type=conversion.completed');
    assert.equal(completedOnly.length, 3, 'endpoint, per-request URL and the thumbs endpoint');
  });

  test('a receiver that fails twice then succeeds ends succeeded with three attempts logged', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'flaky');
    const sink = await receiver({ status: 500, body: 'first' }, { status: 503, body: 'second' }, { status: 200, body: 'thanks' });
    const endpoint = await createEndpoint(account.key, { url: sink.url, event_types: ['webhook.test'] });
    const sent = await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
    assert.equal(sent.status, 202);
    await waitForDeliveries(account.key, `endpoint_id=${endpoint.id}`, (rows) => rows[0]?.status === 'succeeded', 'the test delivery to succeed');

    const detail = await api(`/v1/webhooks/deliveries/${sent.body.delivery_id}`, account.key);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.status, 'succeeded');
    assert.equal(detail.body.attempt_count, 3);
    assert.equal(detail.body.payload.type, 'webhook.test');
    assert.equal(detail.body.payload.id, sent.body.event_id);
    assert.deepEqual(
      detail.body.attempts.map((a: any) => [a.attempt, a.trigger, a.status_code, a.response_body_preview, a.error?.class ?? null]),
      [
        [1, 'scheduled', 500, 'first', 'http_status'],
        [2, 'scheduled', 503, 'second', 'http_status'],
        [3, 'scheduled', 200, 'thanks', null],
      ],
    );
    for (const attempt of detail.body.attempts) assert.ok(Number.isInteger(attempt.duration_ms) && attempt.duration_ms >= 0);
    // The dev server's clock: each retry scheduled at least the 1 s wait after the one before.
    const scheduled = detail.body.attempts.map((a: any) => Date.parse(a.scheduled_at));
    assert.ok(scheduled[1] - scheduled[0] >= 1000 && scheduled[2] - scheduled[1] >= 1000, JSON.stringify(detail.body.attempts));
    assert.equal(new Set(sink.requests.map((r) => r.headers['webhook-id'])).size, 1);
    // Each attempt keeps the request as the receiver got it: its own signature and timestamp, its body.
    assert.equal(sink.requests.length, 3);
    detail.body.attempts.forEach((attempt: any, index: number) => {
      const received = sink.requests[index]!;
      assert.equal(attempt.request.body, received.body);
      for (const [name, value] of Object.entries(attempt.request.headers)) assert.equal(received.headers[name], value, name);
      assert.ok(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type'].every((name) => name in attempt.request.headers));
    });
    assert.notEqual(detail.body.attempts[0].request.headers['webhook-signature'], detail.body.attempts[2].request.headers['webhook-signature']);
  });

  test("a conversion's delivery whose first attempt fails goes on as a workflow, on the endpoint's schedule", async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'handoff');
    const sink = await receiver({ status: 503, body: 'busy' }, { status: 500, body: 'still busy' }, { status: 200, body: 'ok' });
    const endpoint = await createEndpoint(account.key, { url: sink.url, event_types: ['conversion.completed'], retry_schedule: ['1s', '2s'] });
    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(await makeImage(64, 48), 'small.jpg', { output_format: 'png' }),
    });
    assert.equal((await waitForConversion(kiln.url, account.key, accepted.body.id)).status, 'succeeded');
    const [delivery] = await waitForDeliveries(
      account.key,
      `endpoint_id=${endpoint.id}`,
      (rows) => rows[0]?.status === 'succeeded',
      'the delivery to succeed on its third attempt',
    );
    const detail = (await api(`/v1/webhooks/deliveries/${delivery.id}`, account.key)).body;
    assert.deepEqual(
      detail.attempts.map((a: any) => [a.attempt, a.trigger, a.status_code, a.error?.class ?? null]),
      [
        [1, 'scheduled', 503, 'http_status'],
        [2, 'scheduled', 500, 'http_status'],
        [3, 'scheduled', 200, null],
      ],
    );
    // Each wait of the endpoint's schedule was kept (the dev server's clock for the retries, which Temporal schedules).
    const started = detail.attempts.map((a: any) => Date.parse(a.started_at));
    assert.ok(started[1] - started[0] >= 1000 && started[2] - started[1] >= 2000, JSON.stringify(detail.attempts));
    // The retries ran in the delivery's own workflow, which the Web UI shows: a timer for the first wait, then one activity with its attempts.
    assert.equal(detail.workflow_id, `delivery-${delivery.event_id}-${endpoint.id}`);
    const run = await runEnding(kiln.env.client.workflow.getHandle(detail.workflow_id));
    assert.equal(run.state, 'COMPLETED');
    assert.equal(run.status, 'succeeded');
    const history = await kiln.env.client.workflow.getHandle(detail.workflow_id).fetchHistory();
    const kinds = (history.events ?? []).map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')));
    assert.ok(kinds.includes('timerStartedEventAttributes'), 'the first wait is a durable timer');
    const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
    assert.equal(scheduled.length, 1, 'one activity carries the remaining attempts');
    const started2 = (history.events ?? []).find((e) => e.activityTaskStartedEventAttributes);
    assert.equal(started2?.activityTaskStartedEventAttributes?.attempt, 2, 'Temporal retried it once: the third attempt in all');
  });

  test('retry, cancel and recover through the API', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'control');
    const sink = await receiver({ status: 500 });
    const endpoint = await createEndpoint(account.key, { url: sink.url, retry_schedule: ['1s'] });
    const since = new Date(Date.now() - 1000).toISOString();
    const first = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST')).body;
    const second = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST')).body;
    await waitForDeliveries(account.key, `endpoint_id=${endpoint.id}&status=failed`, (rows) => rows.length === 2, 'both deliveries to fail');
    assertProblem(await api(`/v1/webhooks/deliveries/${first.delivery_id}/cancel`, account.key, 'POST'), 409, 'delivery_finished');

    sink.replies = [{ status: 200 }];
    const retried = await api(`/v1/webhooks/deliveries/${first.delivery_id}/retry`, account.key, 'POST');
    assert.equal(retried.status, 202);
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries/${first.delivery_id}`, account.key)).body.status === 'succeeded',
      30_000,
      'the retry to succeed',
    );
    const detail = await api(`/v1/webhooks/deliveries/${first.delivery_id}`, account.key);
    assert.deepEqual(
      detail.body.attempts.map((a: any) => [a.trigger, a.status_code]),
      [
        ['scheduled', 500],
        ['scheduled', 500],
        ['manual', 200],
      ],
    );

    const attemptsOf = async (id: string) => (await api(`/v1/webhooks/deliveries/${id}`, account.key)).body.attempts.length;
    const attemptsBefore = await attemptsOf(second.delivery_id);
    const dryRun = await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since, dry_run: true });
    assert.equal(dryRun.status, 202);
    assert.deepEqual([dryRun.body.dry_run, dryRun.body.redelivered, dryRun.body.delivery_ids], [true, 1, [second.delivery_id]]);
    const recovered = await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since });
    assert.equal(recovered.status, 202);
    assert.equal(recovered.body.dry_run, false);
    assert.deepEqual(recovered.body.delivery_ids, [second.delivery_id]);
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries/${second.delivery_id}`, account.key)).body.status === 'succeeded',
      30_000,
      'the recovered delivery',
    );
    // The dry run sent nothing: the only attempt after it is the recovery's.
    assert.equal(await attemptsOf(second.delivery_id), attemptsBefore + 1);
    assertProblem(await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since: 'yesterday' }), 400, 'invalid_body');

    // A slow schedule leaves time to cancel between attempts.
    sink.replies = [{ status: 500 }];
    await api(`/v1/webhooks/endpoints/${endpoint.id}`, account.key, 'PATCH', { retry_schedule: ['1h'] });
    const third = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST')).body;
    await waitUntil(async () => (await api(`/v1/webhooks/deliveries/${third.delivery_id}`, account.key)).body.attempt_count === 1, 30_000, 'the first attempt');
    const pending = (await api(`/v1/webhooks/deliveries/${third.delivery_id}`, account.key)).body;
    assert.equal(pending.status, 'pending');
    assert.ok(Math.abs(Date.parse(pending.next_attempt_at) - Date.now() - 3_600_000) < 60_000, pending.next_attempt_at);
    assert.equal((await api(`/v1/webhooks/deliveries/${third.delivery_id}/cancel`, account.key, 'POST')).status, 202);
    await waitUntil(async () => (await api(`/v1/webhooks/deliveries/${third.delivery_id}`, account.key)).body.status === 'cancelled', 30_000, 'the cancel');
    assertProblem(await api(`/v1/webhooks/deliveries/${third.delivery_id}/cancel`, account.key, 'POST'), 409, 'delivery_finished');

    assertProblem(await api('/v1/webhooks/deliveries?status=lost', account.key), 400, 'invalid_parameter');
    assertProblem(await api('/v1/webhooks/deliveries?event_type=nope', account.key), 400, 'invalid_parameter');
    const page = await api('/v1/webhooks/deliveries?limit=2', account.key);
    assert.equal(page.body.data.length, 2);
    const rest = await api(`/v1/webhooks/deliveries?limit=2&cursor=${page.body.next_cursor}`, account.key);
    assert.equal(rest.body.data.length, 1);
    assert.equal(rest.body.next_cursor, null);
  });

  test('recover hurries pending deliveries; a changed endpoint URL shows on its pending deliveries, each attempt keeping its own', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'moved');
    const broken = await receiver({ status: 500 });
    const fixed = await receiver({ status: 204 });
    const endpoint = await createEndpoint(account.key, { url: broken.url, retry_schedule: ['1h'] });
    const since = new Date(Date.now() - 1000).toISOString();
    const sent = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST')).body;
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, account.key)).body.workflow_id !== null,
      30_000,
      'the failed first attempt to hand the delivery to its workflow',
    );

    assert.equal((await api(`/v1/webhooks/endpoints/${endpoint.id}`, account.key, 'PATCH', { url: fixed.url })).status, 200);
    const moved = (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, account.key)).body;
    assert.equal(moved.status, 'pending');
    assert.equal(moved.url, fixed.url, 'the delivery shows where its next attempt goes');

    // The default (failed only) leaves it to its schedule; asking for pending ones sends it now, not in an hour.
    assert.deepEqual((await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since })).body.delivery_ids, []);
    const hurried = await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since, status: ['pending'] });
    assert.equal(hurried.status, 202);
    assert.deepEqual(hurried.body.delivery_ids, [sent.delivery_id]);
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, account.key)).body.status === 'succeeded',
      30_000,
      'the hurried delivery',
    );
    const detail = (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, account.key)).body;
    assert.deepEqual(
      detail.attempts.map((a: any) => [a.trigger, a.url, a.status_code]),
      [
        ['scheduled', broken.url, 500],
        ['manual', fixed.url, 204],
      ],
    );
    assert.equal(fixed.requests.length, 1);
    assertProblem(await api('/v1/webhooks/recover', account.key, 'POST', { endpoint_id: endpoint.id, since, status: ['succeeded'] }), 400, 'invalid_body');
  });

  test("an endpoint's own headers go with every delivery, beside Kiln's, whose names it cannot take", async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'gateway');
    const sink = await receiver({ status: 204 });
    for (const headers of [
      { 'Webhook-Signature': 'v1,forged' },
      { 'X-Kiln-Signature': 'x' },
      { 'Content-Type': 'text/plain' },
      { 'bad name': 'x' },
      { 'X-Ok': 'two\nlines' },
    ]) {
      assertProblem(await api('/v1/webhooks/endpoints', account.key, 'POST', { url: sink.url, headers }), 400, 'invalid_headers');
    }
    const endpoint = await createEndpoint(account.key, { url: sink.url, headers: { Authorization: 'Bearer gateway-token', 'X-Team': 'imaging' } });
    assert.deepEqual(endpoint.headers, { authorization: 'Bearer gateway-token', 'x-team': 'imaging' });
    await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
    const [first] = await sink.waitForRequests(1);
    assert.equal(first!.headers.authorization, 'Bearer gateway-token');
    assert.equal(first!.headers['x-team'], 'imaging');
    assert.equal(verifyDelivery(first!, endpoint.secret).type, 'webhook.test', "Kiln's signing headers are intact");

    const patched = await api(`/v1/webhooks/endpoints/${endpoint.id}`, account.key, 'PATCH', { headers: { 'X-Team': 'video' } });
    assert.deepEqual(patched.body.headers, { 'x-team': 'video' }, 'PATCH replaces them all');
    await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
    const [, second] = await sink.waitForRequests(2);
    assert.equal(second!.headers['x-team'], 'video');
    assert.equal(second!.headers.authorization, undefined);
  });

  test('a receiver keeps the secret it already holds: brought on create and on rotate', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'migrating');
    const sink = await receiver({ status: 204 });
    const held = `whsec_${randomBytes(32).toString('base64')}`;
    for (const secret of [
      'whsec_c2hvcnQ=',
      // A plain string is taken only beside an extra signature header.
      'plain-text-secret-of-some-length',
      `whsec_${randomBytes(32).toString('base64')}!`,
      `whsec_${randomBytes(65).toString('base64')}`,
    ]) {
      assertProblem(await api('/v1/webhooks/endpoints', account.key, 'POST', { url: sink.url, secret }), 400, 'invalid_secret');
    }
    const endpoint = await createEndpoint(account.key, { url: sink.url, secret: held });
    assert.equal(endpoint.secret, held);
    await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
    verifyDelivery((await sink.waitForRequests(1))[0]!, held);

    assertProblem(await api(`/v1/webhooks/endpoints/${endpoint.id}`, account.key, 'PATCH', { secret: held }), 400, 'invalid_body');
    const next = `whsec_${randomBytes(24).toString('base64')}`;
    assertProblem(await api(`/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, account.key, 'POST', { secret: 'whsec_nope' }), 400, 'invalid_secret');
    const rotated = await api(`/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, account.key, 'POST', { secret: next });
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.secret, next);
    await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST');
    const [, second] = await sink.waitForRequests(2);
    // X-Kiln-Signature holds one signature: through the overlap, the old secret's, which a single-secret receiver still has.
    verifyDelivery(second!, next, held);
    // Through the overlap the Standard Webhooks header carries both signatures: a receiver still on the old secret accepts it too.
    new Webhook(held).verify(second!.body, {
      'webhook-id': String(second!.headers['webhook-id']),
      'webhook-timestamp': String(second!.headers['webhook-timestamp']),
      'webhook-signature': String(second!.headers['webhook-signature']),
    });

    const accountSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const accountRotated = await api('/v1/webhooks/secret/rotate', account.key, 'POST', { secret: accountSecret });
    assert.equal(accountRotated.body.secret, accountSecret);
    assert.equal((await api('/v1/webhooks/secret', account.key)).body.secret, accountSecret);
  });

  test('410 Gone disables the endpoint, with the reason shown on it', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'gone');
    const sink = await receiver({ status: 410 });
    const endpoint = await createEndpoint(account.key, { url: sink.url });
    const sent = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST')).body;
    await waitUntil(
      async () => (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, account.key)).body.status === 'failed',
      30_000,
      'the delivery to fail',
    );
    const disabled = (await api(`/v1/webhooks/endpoints/${endpoint.id}`, account.key)).body;
    assert.equal(disabled.enabled, false);
    assert.match(disabled.disabled_reason, /410/);
    assert.equal(sink.requests.length, 1);
    assertProblem(await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, account.key, 'POST'), 409, 'endpoint_disabled');
    assertProblem(await api(`/v1/webhooks/deliveries/${sent.delivery_id}/retry`, account.key, 'POST'), 409, 'endpoint_disabled');
  });

  test("another account's endpoints, deliveries and events answer 404", async () => {
    const sink = await receiver();
    const endpoint = await createEndpoint(alice.key, { url: sink.url });
    const sent = (await api(`/v1/webhooks/endpoints/${endpoint.id}/test`, alice.key, 'POST')).body;
    await waitUntil(async () => (await api(`/v1/webhooks/deliveries/${sent.delivery_id}`, alice.key)).body.status === 'succeeded', 30_000, 'the delivery');

    for (const [method, path] of [
      ['GET', `/v1/webhooks/endpoints/${endpoint.id}`],
      ['PATCH', `/v1/webhooks/endpoints/${endpoint.id}`],
      ['DELETE', `/v1/webhooks/endpoints/${endpoint.id}`],
      ['GET', `/v1/webhooks/endpoints/${endpoint.id}/secret`],
      ['POST', `/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`],
      ['POST', `/v1/webhooks/endpoints/${endpoint.id}/test`],
    ] as const) {
      assertProblem(await api(path, bob.key, method, method === 'PATCH' ? { enabled: false } : undefined), 404, 'endpoint_not_found');
    }
    for (const [method, path] of [
      ['GET', `/v1/webhooks/deliveries/${sent.delivery_id}`],
      ['POST', `/v1/webhooks/deliveries/${sent.delivery_id}/retry`],
      ['POST', `/v1/webhooks/deliveries/${sent.delivery_id}/cancel`],
    ] as const) {
      assertProblem(await api(path, bob.key, method), 404, 'delivery_not_found');
    }
    assertProblem(await api(`/v1/events/${sent.event_id}`, bob.key), 404, 'event_not_found');
    assertProblem(
      await api('/v1/webhooks/recover', bob.key, 'POST', { endpoint_id: endpoint.id, since: new Date(0).toISOString() }),
      404,
      'endpoint_not_found',
    );
    assert.equal((await api(`/v1/webhooks/deliveries?endpoint_id=${endpoint.id}`, bob.key)).body.data.length, 0);
    assert.ok(!(await api('/v1/events', bob.key)).body.data.some((e: any) => e.id === sent.event_id));
    // And the owner still sees it all, untouched.
    assert.equal((await api(`/v1/webhooks/endpoints/${endpoint.id}`, alice.key)).body.enabled, true);
    assert.ok(
      new Webhook(endpoint.secret).verify(sink.requests[0]!.body, {
        'webhook-id': String(sink.requests[0]!.headers['webhook-id']),
        'webhook-timestamp': String(sink.requests[0]!.headers['webhook-timestamp']),
        'webhook-signature': String(sink.requests[0]!.headers['webhook-signature']),
      }),
    );
  });

  test('a delivery stored while its workflow could not start is started by the reconciler', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'stranded');
    const sink = await receiver();
    const endpoint = await createEndpoint(account.key, { url: sink.url });
    // As if the process died right after the commit: event and delivery stored, no workflow.
    const published = await publishEvent(
      kiln.database.db,
      {
        accountId: account.id,
        type: 'webhook.test',
        subjectId: endpoint.id,
        dedupeKey: `stranded-${endpoint.id}`,
        data: { endpoint_id: endpoint.id, message: 'stranded' },
      },
      { kind: 'endpoint', endpoint: (await findEndpointById(kiln.database.db, endpoint.id))! },
      kiln.config.webhookRetrySchedule,
    );
    const delivery = published.deliveries[0]!.delivery;
    assert.equal(delivery.dispatched_at, null);
    assert.equal((await startStrandedWork(kiln.database.db, kiln.env.client, reconcileAtOnce())) >= 1, true);
    await sink.waitForRequests(1);
    verifyDelivery(sink.requests[0]!, endpoint.secret);
    await waitUntil(async () => (await api(`/v1/webhooks/deliveries/${delivery.id}`, account.key)).body.status === 'succeeded', 30_000, 'the delivery');
    // A second pass finds nothing left to start, and the finished delivery is not sent again.
    await startStrandedWork(kiln.database.db, kiln.env.client, reconcileAtOnce());
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sink.requests.length, 1);
  });

  /** An account with `count` endpoints on one receiver, each at a path of its own. */
  async function accountWithEndpoints(name: string, count: number) {
    const account = await createAccount(kiln.url, kiln.adminToken, name);
    const sink = await receiver();
    const endpoints = [];
    for (let i = 0; i < count; i++) endpoints.push(await createEndpoint(account.key, { url: `${sink.url}/e${i}` }));
    return { account, sink, endpoints };
  }

  /** Each (path, webhook-id) pair the receiver got, verified against its endpoint's secret, counted. */
  function receiptsByEndpoint(sink: Receiver, endpoints: Array<{ url: string; secret: string }>): Map<string, number> {
    const secrets = new Map(endpoints.map((endpoint) => [new URL(endpoint.url).pathname, endpoint.secret]));
    const counts = new Map<string, number>();
    for (const received of sink.requests) {
      verifyDelivery(received, secrets.get(received.path)!);
      const key = `${received.path} ${String(received.headers['webhook-id'])}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  test('an event for more endpoints than its own transaction plans is stored first and fanned out after: each endpoint gets each event once', async () => {
    // Past publish.ts's INLINE_TARGETS (20).
    const { account, sink, endpoints } = await accountWithEndpoints('fan-out', 25);
    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(await makeImage(40, 30, 'png'), 'a.png', { output_format: 'webp' }),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    await waitForConversion(kiln.url, account.key, accepted.body.id);
    // file.uploaded, conversion.started and conversion.completed, to each of the 25.
    await sink.waitForRequests(75, 60_000);
    const counts = receiptsByEndpoint(sink, endpoints);
    assert.equal(counts.size, 75);
    assert.deepEqual(new Set(counts.values()), new Set([1]));
    const uploaded = await waitForDeliveries(
      account.key,
      'event_type=file.uploaded&limit=100',
      (rows) => rows.length === 25 && rows.every((row) => row.status === 'succeeded'),
      'the fan-out',
    );
    assert.equal(new Set(uploaded.map((row) => row.endpoint_id)).size, 25);
  });

  test('a fan-out its process never planned is planned by the reconcile schedule, once', async () => {
    const { account, sink, endpoints } = await accountWithEndpoints('fan-out-stranded', 22);
    // As if the process died right after the commit: the event stored owing its fan-out, nothing planned.
    const event = {
      accountId: account.id,
      type: 'conversion.failed' as const,
      subjectId: 'cnv_stranded',
      dedupeKey: 'stranded-fan-out',
      data: {
        conversion_id: 'cnv_stranded',
        status: 'failed' as const,
        input: { filename: 'a.txt', bytes: 1, content_type: 'text/plain', format: null, width: null, height: null },
        error: { code: 'unsupported_input', message: 'stranded' },
        metadata: null,
        tag: null,
      },
    };
    const routing = { kind: 'subscribers' as const, tag: null, webhookUrl: null, webhookEvents: null };
    const published = await publishEvent(kiln.database.db, event, routing, kiln.config.webhookRetrySchedule);
    assert.equal(published.fanOutOwed, true);
    assert.deepEqual(published.deliveries, []);
    // A publisher retried meanwhile learns the fan-out is still owed.
    const again = await publishEvent(kiln.database.db, event, routing, kiln.config.webhookRetrySchedule);
    assert.deepEqual([again.id, again.created, again.fanOutOwed], [published.id, false, true]);
    // Conversions of the other tests are left alone.
    const options = { ...reconcileAtOnce(), conversionGraceSeconds: 3600 };
    assert.equal(await startStrandedWork(kiln.database.db, kiln.env.client, options), 22);
    await sink.waitForRequests(22, 60_000);
    await waitForDeliveries(
      account.key,
      `event_id=${published.id}&limit=100`,
      (rows) => rows.length === 22 && rows.every((row) => row.status === 'succeeded'),
      'the deliveries',
    );
    // Planned once: a second pass finds nothing owed or stranded, and each endpoint got the event once.
    assert.equal(await startStrandedWork(kiln.database.db, kiln.env.client, options), 0);
    const counts = receiptsByEndpoint(sink, endpoints);
    assert.deepEqual([counts.size, new Set(counts.values())], [22, new Set([1])]);
    assert.equal((await publishEvent(kiln.database.db, event, routing, kiln.config.webhookRetrySchedule)).fanOutOwed, false);
  });

  test('a delivery whose process died after its failed first attempt resumes from its log: the next attempt, at its time', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'resumed');
    const sink = await receiver({ status: 200, body: 'second time lucky' });
    const endpoint = await createEndpoint(account.key, { url: sink.url, retry_schedule: ['2s', '2s'] });
    const published = await publishEvent(
      kiln.database.db,
      {
        accountId: account.id,
        type: 'webhook.test',
        subjectId: endpoint.id,
        dedupeKey: `resumed-${endpoint.id}`,
        data: { endpoint_id: endpoint.id, message: 'resumed' },
      },
      { kind: 'endpoint', endpoint: (await findEndpointById(kiln.database.db, endpoint.id))! },
      kiln.config.webhookRetrySchedule,
    );
    const delivery = published.deliveries[0]!.delivery;
    // As if a first attempt failed and its process died before it could start the workflow for the retries.
    const due = Date.now() + 2000;
    await recordAttempts(kiln.database.db, [
      {
        deliveryId: delivery.id,
        attempt: {
          trigger: 'scheduled',
          url: sink.url,
          scheduledAt: new Date(),
          startedAt: new Date(),
          durationMs: 3,
          statusCode: 503,
          responseBodyPreview: 'busy',
          request: null,
          error: { class: 'http_status', message: 'the endpoint answered 503' },
          nextAttemptAt: new Date(due),
        },
      },
    ]);
    const options = reconcileAtOnce();
    assert.ok((await startStrandedWork(kiln.database.db, kiln.env.client, options)) >= 1);
    await sink.waitForRequests(1);
    // The wait left by the log was kept (to the second: the start rounds it), not started over or skipped.
    assert.ok(sink.requests[0]!.receivedAt >= due - 1000, `the retry came ${due - sink.requests[0]!.receivedAt} ms early`);
    await waitUntil(async () => (await api(`/v1/webhooks/deliveries/${delivery.id}`, account.key)).body.status === 'succeeded', 30_000, 'the delivery');
    const detail = (await api(`/v1/webhooks/deliveries/${delivery.id}`, account.key)).body;
    assert.deepEqual(
      detail.attempts.map((a: any) => [a.attempt, a.trigger, a.status_code]),
      [
        [1, 'scheduled', 503],
        [2, 'scheduled', 200],
      ],
    );
    assert.equal(detail.workflow_id, `delivery-${delivery.event_id}-${endpoint.id}`);
    assert.equal(sink.requests.length, 1, 'the attempt already made is not made again');
  });

  test('a receiver that never answers does not hold up the conversion', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'silent');
    // Accepts connections and reads, never answers: every attempt runs into the 3 s timeout.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await createEndpoint(account.key, { url: `http://127.0.0.1:${port}/hooks` });
      const accepted = await request(`${kiln.url}/v1/conversions`, {
        method: 'POST',
        key: account.key,
        body: uploadForm(await makeImage(64, 64), 'small.jpg', { output_format: 'png' }),
      });
      const done = await waitForConversion(kiln.url, account.key, accepted.body.id, 20_000);
      assert.equal(done.status, 'succeeded');
      const pending = await deliveriesOf(account.key, 'status=pending');
      assert.ok(pending.length >= 1, 'its deliveries are still trying while the conversion is done');
      const failed = await waitForDeliveries(
        account.key,
        'event_type=conversion.completed',
        (rows) => rows[0]?.status === 'failed',
        'the completed event to fail after its schedule',
      );
      const detail = await api(`/v1/webhooks/deliveries/${failed[0].id}`, account.key);
      assert.deepEqual(
        detail.body.attempts.map((a: any) => a.error?.class),
        ['timeout', 'timeout', 'timeout'],
      );
    } finally {
      silent.close();
    }
  });

  test('conversion webhook fields are validated', async () => {
    const image = await makeImage(40, 30);
    const upload = (fields: Record<string, string>) =>
      request(`${kiln.url}/v1/conversions`, { method: 'POST', key: alice.key, body: uploadForm(image, 'a.jpg', { output_format: 'png', ...fields }) });
    assertProblem(await upload({ webhook_url: 'gopher://x' }), 400, 'invalid_url');
    assertProblem(await upload({ webhook_url: 'http://192.168.1.1/hook' }), 422, 'blocked_address');
    assertProblem(await upload({ webhook_metadata: '[1,2]' }), 400, 'invalid_metadata');
    assertProblem(await upload({ webhook_metadata: '{not json' }), 400, 'invalid_metadata');
    assertProblem(await upload({ tag: 'has spaces' }), 400, 'invalid_tag');
    assertProblem(await upload({ webhook_events: 'conversion.completed' }), 400, 'invalid_options');
    assertProblem(await upload({ webhook_url: 'http://127.0.0.1:9/h', webhook_events: 'conversion.completed,conversion.done' }), 400, 'unknown_event_type');
    assertProblem(await upload({ webhook_url: 'http://127.0.0.1:9/h', webhook_events: 'webhook.test' }), 400, 'unknown_event_type');
  });

  test('webhook_events limits what a conversion sends to its own webhook_url', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'picky');
    const sink = await receiver({ status: 204 });
    const accepted = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(await makeImage(40, 30), 'a.jpg', {
        output_format: 'png',
        webhook_url: sink.url,
        webhook_events: 'conversion.completed, conversion.failed',
      }),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.deepEqual(accepted.body.webhook_events, ['conversion.completed', 'conversion.failed']);
    const done = await waitForConversion(kiln.url, account.key, accepted.body.id);
    assert.equal(done.status, 'succeeded');
    // Every event of the conversion is stored by now; only the one asked for has a delivery.
    const events = (await api(`/v1/events?subject_id=${accepted.body.id}`, account.key)).body.data;
    assert.deepEqual(events.map((e: any) => e.type).sort(), ['conversion.completed', 'conversion.started', 'file.uploaded']);
    const targeted = [];
    for (const event of events) if ((await deliveriesOf(account.key, `event_id=${event.id}`)).length > 0) targeted.push(event.type);
    assert.deepEqual(targeted, ['conversion.completed']);
    const [received] = await sink.waitForRequests(1);
    assert.equal(verifyDelivery(received!, account.webhookSecret).type, 'conversion.completed');
  });
});
