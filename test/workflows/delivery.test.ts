import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { createDeliverActivities, type DeliverDependencies } from '../../activities/index.js';
import { cancelSignal } from '../../workflows/definitions.js';
import { TASK_QUEUES } from '../../src/names.js';
import { openEmbeddedPostgres, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { createAccountWithKey } from '../../src/db/accounts.js';
import { createEndpoint, findEndpointById, rotateEndpointSecret } from '../../src/db/webhook-endpoints.js';
import { findDeliveryById, listAttempts, reopenDelivery } from '../../src/db/deliveries.js';
import { AttemptLog } from '../../src/db/attempt-log.js';
import type { Delivery, WebhookEndpoint } from '../../src/db/schema.js';
import { publishEvent, publishRoutedEvents } from '../../src/events/publish.js';
import type { EventType } from '../../src/model/event-catalog.js';
import { newId } from '../../src/ids.js';
import { DownloadSigner } from '../../src/signing/download-url.js';
import { AddressGuard } from '../../src/net/address-guard.js';
import { TemplateRenderer } from '../../src/webhooks/template.js';
import { cancelDeliveryRetries, redeliver, startDeliveryWorkflows } from '../../src/webhooks/delivery-workflow.js';
import { SEARCH_ATTRIBUTES } from '../../src/search-attributes.js';
import { workflowBundle } from '../../src/worker/temporal-worker.js';
import { runEnding, timeSkippingEnvironment } from '../support/temporal.js';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { FirstAttempts } from '../../src/webhooks/first-attempts.js';
import { RequestsUnderWay } from '../../src/requests-under-way.js';
import { tempDir } from '../support/temp.js';
import { startReceiver, verifyDelivery, type Receiver } from '../support/receiver.js';
import { waitUntil } from '../support/processes.js';

const DEFAULT_SCHEDULE = [30, 120, 600];
const TIMEOUT_SECONDS = 5;

describe('delivery workflow (time-skipping test server)', () => {
  let env: TestWorkflowEnvironment;
  let database: DatabaseHandle;
  let worker: Worker;
  let running: Promise<void>;
  let deliverDeps: DeliverDependencies;
  const dir = tempDir('delivery');
  const receivers: Receiver[] = [];
  /** Deliveries whose next retry dies with its worker, once. */
  const loseNextRetryOf = new Set<string>();
  /** Deliveries retried through the API just as their run records them failed, as a user can. */
  const retryAsTheRunEnds = new Map<string, Delivery>();

  before(async () => {
    env = await timeSkippingEnvironment();
    database = await openEmbeddedPostgres(path.join(dir.path, 'db'));
    await migrateToLatest(database.db);
    deliverDeps = {
      db: database.db,
      attemptLog: new AttemptLog(database.db),
      // The receivers live on loopback, which the guard must let through here.
      guard: new AddressGuard(['127.0.0.0/8']),
      signer: new DownloadSigner('delivery-test-key', () => 'http://kiln.test', 3600),
      templates: new TemplateRenderer({ timeoutMs: 250, maxOutputBytes: 256 * 1024, memoryMb: 64 }),
      disableAfterSeconds: 5 * 86_400,
      userAgent: 'Kiln-Webhooks/test',
    };
    const activities = createDeliverActivities(deliverDeps);
    // A stand-in for a worker lost mid-attempt (no process can be killed under the
    // time-skipping server): the attempt ends without answering, nothing sent or logged.
    const deliverOrLose: typeof activities.deliverWebhook = async (input) => {
      if ((input.attemptOffset ?? 0) > 0 && loseNextRetryOf.delete(input.deliveryId)) throw new Error('the worker was lost mid-attempt');
      return activities.deliverWebhook(input);
    };
    // The retry route's own two steps, taken once the row says failed and before the run ends.
    const recordThenRetry: typeof activities.recordDeliveryOutcome = async (deliveryId, outcome) => {
      await activities.recordDeliveryOutcome(deliveryId, outcome);
      const retried = retryAsTheRunEnds.get(deliveryId);
      if (!retried) return;
      retryAsTheRunEnds.delete(deliveryId);
      assert.equal((await findDeliveryById(database.db, deliveryId))?.status, 'failed');
      await reopenDelivery(database.db, deliveryId);
      await redeliver(env.client, database.db, retried, TIMEOUT_SECONDS);
    };
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.deliver,
      workflowBundle: await workflowBundle(),
      activities: { ...activities, deliverWebhook: deliverOrLose, recordDeliveryOutcome: recordThenRetry },
    });
    running = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await Promise.all(receivers.map((r) => r.close()));
    await env?.teardown();
    await database?.close();
    dir.remove();
  });

  async function receiver(...replies: Parameters<typeof startReceiver>[0] & object): Promise<Receiver> {
    // The time-skipping server's clock, read as each request lands, is what proves the waits.
    const started = await startReceiver(replies, { clock: () => env.currentTimeMs() });
    receivers.push(started);
    return started;
  }

  /** An endpoint at `url` and one event fanned out to it; returns the delivery, not yet started. */
  async function eventFor(url: string, retrySchedule: number[] | null = null, existing?: WebhookEndpoint) {
    // A fresh account per event, so earlier tests' endpoints do not subscribe to it.
    const owner = existing?.account_id ?? (await createAccountWithKey(database.db, `delivery-${newId('acc')}`)).account.id;
    const endpoint =
      existing ?? (await createEndpoint(database.db, owner, { url, description: '', eventTypes: [], tags: [], retrySchedule, enabled: true, headers: {} }));
    const published = await publishEvent(
      database.db,
      {
        accountId: owner,
        type: 'conversion.failed',
        subjectId: 'cnv_test',
        dedupeKey: newId('evt'),
        data: {
          conversion_id: 'cnv_test',
          status: 'failed',
          input: { filename: 'notes.txt', bytes: 12, content_type: 'text/plain', format: null, width: null, height: null },
          error: { code: 'unsupported_input', message: 'not an image' },
          metadata: null,
          tag: null,
        },
      },
      existing ? { kind: 'endpoint', endpoint: existing } : { kind: 'subscribers', tag: null, webhookUrl: null, webhookEvents: null },
      DEFAULT_SCHEDULE,
    );
    assert.equal(published.deliveries.length, 1);
    return { endpoint, delivery: published.deliveries[0]!.delivery, ready: published.deliveries[0]! };
  }

  async function start(delivery: Delivery) {
    await startDeliveryWorkflows(env.client, database.db, [delivery], TIMEOUT_SECONDS);
    return env.client.workflow.getHandle(delivery.workflow_id);
  }

  /**
   * How the delivery ended, read from its run as the Web UI shows it: a failed delivery
   * fails its run with the last error class, a cancelled one is Canceled (or Completed
   * when only the `cancel` signal asked), and KilnStatus always says the outcome.
   */
  async function ended(handle: WorkflowHandle, expectedFailureType?: string): Promise<string> {
    const run = await runEnding(handle);
    const outcome = run.state === 'FAILED' ? 'failed' : run.state === 'CANCELLED' ? 'cancelled' : String(run.result);
    assert.equal(run.status, outcome, 'KilnStatus says how the delivery ended');
    if (expectedFailureType) assert.equal(run.failureType, expectedFailureType);
    return outcome;
  }

  /**
   * Each wait between one request and the next, in seconds on the server's clock. The
   * schedule names these waits; each also holds the time an attempt takes to be recorded
   * after its answer, real time the skipping clock counts too, which a loaded machine
   * stretches past half a second.
   */
  function waitsBetween(sink: Receiver): number[] {
    return sink.requests.slice(1).map((r, i) => (r.serverTime! - sink.requests[i]!.serverTime!) / 1000);
  }

  /** Each wait is the schedule's: never shorter, and longer by no more than an attempt's recording (under 2 s even on a loaded machine). */
  function assertWaits(sink: Receiver, schedule: number[], message?: string): void {
    const waits = waitsBetween(sink);
    assert.equal(waits.length, schedule.length, `${waits.length} waits, not ${schedule.length}: ${waits.join(', ')}`);
    waits.forEach((wait, i) =>
      assert.ok(wait >= schedule[i]! && wait < schedule[i]! + 2, `${message ?? 'the schedule'}: wait ${i + 1} was ${wait} s, not ${schedule[i]} s`),
    );
  }

  test('events of several types stored together each reach only the endpoints that take their type', async () => {
    const owner = (await createAccountWithKey(database.db, `types-${newId('acc')}`)).account.id;
    const endpoint = (eventTypes: EventType[]) =>
      createEndpoint(database.db, owner, {
        url: 'http://127.0.0.1:9/',
        description: '',
        eventTypes,
        tags: [],
        retrySchedule: null,
        enabled: true,
        headers: {},
      });
    const failedOnly = await endpoint(['conversion.failed']);
    const testOnly = await endpoint(['webhook.test']);
    const every = await endpoint([]);
    const routing = { kind: 'subscribers' as const, tag: null, webhookUrl: null, webhookEvents: null };
    const failed = {
      accountId: owner,
      type: 'conversion.failed' as const,
      subjectId: 'cnv_types',
      data: {
        conversion_id: 'cnv_types',
        status: 'failed' as const,
        input: { filename: 'a.txt', bytes: 1, content_type: 'text/plain', format: null, width: null, height: null },
        error: { code: 'unsupported_input', message: 'not an image' },
        metadata: null,
        tag: null,
      },
    };
    const probe = { accountId: owner, type: 'webhook.test' as const, subjectId: 'ep_types', data: { endpoint_id: 'ep_types', message: 'types' } };
    /** Both events in one call, as a job's file end stores its conversion's event and its job's progress. */
    const publishBoth = (round: string) =>
      publishRoutedEvents(
        database.db,
        [
          { event: { ...failed, dedupeKey: `failed-${round}` }, routing },
          { event: { ...probe, dedupeKey: `probe-${round}` }, routing },
        ],
        DEFAULT_SCHEDULE,
      );
    const targets = (published: Awaited<ReturnType<typeof publishEvent>>) => published.deliveries.map((d) => d.delivery.endpoint_id).sort();
    const [toFailed, toProbe] = await publishBoth('few');
    assert.deepEqual(targets(toFailed!), [failedOnly.id, every.id].sort());
    assert.deepEqual(targets(toProbe!), [testOnly.id, every.id].sort());

    // Past the targets a transaction plans itself, the endpoints are asked per type: the last made still gets its event.
    for (let i = 0; i < 20; i++) await endpoint(['conversion.failed']);
    const late = await endpoint(['webhook.test']);
    const [manyFailed, lateProbe] = await publishBoth('many');
    assert.equal(manyFailed!.fanOutOwed, true, '22 endpoints take conversion.failed: its fan-out is planned after the commit');
    assert.deepEqual(targets(lateProbe!), [testOnly.id, every.id, late.id].sort());
  });

  test('the default schedule to the second: attempts at 0, 30 s, 2 min 30 s, 12 min 30 s, then failed', async () => {
    const sink = await receiver({ status: 500, body: 'down for maintenance' });
    const { endpoint, delivery } = await eventFor(sink.url);
    const handle = await start(delivery);
    assert.equal(await ended(handle, 'http_status'), 'failed');
    assertWaits(sink, [30, 120, 600], 'attempts at 0, 30 s, 2 min 30 s and 12 min 30 s');

    const stored = await findDeliveryById(database.db, delivery.id);
    assert.equal(stored?.status, 'failed');
    assert.equal(stored?.attempt_count, 4);
    assert.equal(stored?.last_status_code, 500);
    assert.equal(stored?.next_attempt_at, null);
    const attempts = await listAttempts(database.db, delivery.id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.trigger, a.status_code, a.error_class]),
      [
        [1, 'scheduled', 500, 'http_status'],
        [2, 'scheduled', 500, 'http_status'],
        [3, 'scheduled', 500, 'http_status'],
        [4, 'scheduled', 500, 'http_status'],
      ],
    );
    assert.equal(attempts[0]!.response_body_preview, 'down for maintenance');

    // Every attempt carries the same webhook-id and verifies with the official package.
    assert.equal(sink.requests.length, 4);
    for (const request of sink.requests) {
      assert.equal(request.headers['webhook-id'], delivery.event_id);
      assert.equal(request.headers['x-kiln-event'], 'conversion.failed');
      assert.equal(request.headers['content-type'], 'application/json');
      assert.match(String(request.headers['user-agent']), /^Kiln-Webhooks\//);
      const payload = verifyDelivery(request, endpoint.secret);
      assert.equal(payload.id, delivery.event_id);
      assert.equal(payload.type, 'conversion.failed');
      assert.deepEqual((payload.data as Record<string, unknown>).error, { code: 'unsupported_input', message: 'not an image' });
    }
  });

  /** The worker's first attempts, as the worker role runs them, against this test's server and database. */
  function firstAttempts(requests = new RequestsUnderWay()): FirstAttempts {
    return new FirstAttempts({
      attempt: deliverDeps,
      client: env.client,
      settings: { defaultRetrySchedule: DEFAULT_SCHEDULE, requestTimeoutSeconds: TIMEOUT_SECONDS },
      concurrency: 10,
      concurrencyWhileRequests: 2,
      requests,
      maxWaiting: 100,
      windowMs: 15_000,
      claimSeconds: 60,
      log: () => {},
    });
  }

  test('a first attempt made in the worker that delivers needs no workflow at all', async () => {
    const sink = await receiver({ status: 204 });
    const { delivery, ready } = await eventFor(sink.url);
    const attempts = firstAttempts();
    await attempts.dispatch([ready]);
    await attempts.close(10_000);
    const stored = await findDeliveryById(database.db, delivery.id);
    assert.equal(stored?.status, 'succeeded');
    assert.equal(stored?.attempt_count, 1);
    assert.equal(stored?.dispatched_at, null);
    assert.equal(sink.requests.length, 1);
    verifyDelivery(sink.requests[0]!, (await findEndpointById(database.db, delivery.endpoint_id!))!.secret);
    await assert.rejects(env.client.workflow.getHandle(delivery.workflow_id).describe(), WorkflowNotFoundError);
  });

  test('while an API request of the process is under way, first attempts start at most two at a time', async () => {
    const HELD_MS = 300;
    const sink = await receiver({ status: 204, delayMs: HELD_MS });
    const events = await Promise.all(Array.from({ length: 6 }, () => eventFor(sink.url)));
    const requests = new RequestsUnderWay();
    const attempts = firstAttempts(requests);
    const endRequest = requests.begin();
    await attempts.dispatch(events.map((event) => event.ready));
    await sink.waitForRequests(4, 30_000);
    // The third came once the first had its answer, and the fourth after the second: at most two open at once.
    const arrived = sink.requests.map((r) => r.receivedAt);
    assert.ok(
      arrived[2]! - arrived[0]! >= HELD_MS - 1 && arrived[3]! - arrived[1]! >= HELD_MS - 1,
      `arrivals at ${arrived.map((t) => t - arrived[0]!).join(', ')} ms`,
    );
    endRequest();
    await attempts.close(10_000);
    assert.equal(sink.requests.length, 6);
    for (const { delivery } of events) assert.equal((await findDeliveryById(database.db, delivery.id))?.status, 'succeeded');
  });

  test('a first attempt made in the worker hands the rest of the default schedule to a workflow, each wait to the second', async () => {
    const sink = await receiver({ status: 500, body: 'down for maintenance' });
    const { delivery, ready } = await eventFor(sink.url);
    const attempts = firstAttempts();
    await attempts.dispatch([ready]);
    await attempts.close(10_000);
    const handle = env.client.workflow.getHandle(delivery.workflow_id);
    assert.equal(await ended(handle, 'http_status'), 'failed');
    assertWaits(sink, [30, 120, 600], 'attempts at 0 (in the worker), 30 s, 2 min 30 s and 12 min 30 s (the workflow)');
    const logged = await listAttempts(database.db, delivery.id);
    assert.deepEqual(
      logged.map((a) => [a.attempt, a.trigger, a.status_code]),
      [
        [1, 'scheduled', 500],
        [2, 'scheduled', 500],
        [3, 'scheduled', 500],
        [4, 'scheduled', 500],
      ],
    );
    const stored = await findDeliveryById(database.db, delivery.id);
    assert.equal(stored?.status, 'failed');
    assert.notEqual(stored?.dispatched_at, null);
  });

  test('a first attempt made in the worker that can never succeed ends the delivery without a workflow', async () => {
    const sink = await receiver({ status: 410 });
    const { endpoint, delivery, ready } = await eventFor(sink.url);
    const attempts = firstAttempts();
    await attempts.dispatch([ready]);
    await attempts.close(10_000);
    const stored = await findDeliveryById(database.db, delivery.id);
    assert.equal(stored?.status, 'failed');
    assert.equal(stored?.dispatched_at, null);
    assert.equal((await findEndpointById(database.db, endpoint.id))?.enabled, false);
    await assert.rejects(env.client.workflow.getHandle(delivery.workflow_id).describe(), WorkflowNotFoundError);
  });

  test("an endpoint's own schedule replaces the default", async () => {
    const sink = await receiver({ status: 502 });
    const { delivery } = await eventFor(sink.url, [5, 60]);
    assert.equal(await ended(await start(delivery)), 'failed');
    assertWaits(sink, [5, 60]);
  });

  test('a retry lost with its worker takes no place in the schedule: the last retry is still made', async () => {
    const sink = await receiver({ status: 500 }, { status: 204 });
    const { delivery } = await eventFor(sink.url, [5]);
    loseNextRetryOf.add(delivery.id);
    assert.equal(await ended(await start(delivery)), 'succeeded');
    assert.equal(loseNextRetryOf.size, 0, 'the retry was lost once');
    // The lost try waits the schedule's entry again before the retry it stood for.
    assertWaits(sink, [10]);
    const logged = await listAttempts(database.db, delivery.id);
    assert.deepEqual(
      logged.map((a) => [a.attempt, a.trigger, a.status_code]),
      [
        [1, 'scheduled', 500],
        [2, 'scheduled', 204],
      ],
    );
  });

  test('Retry-After is honoured within [scheduled, 2 × scheduled]', async () => {
    const sink = await receiver(
      { status: 429, headers: { 'Retry-After': '45' } }, // 30 s scheduled → 45 s
      { status: 503, headers: { 'Retry-After': '1000' } }, // 120 s scheduled → capped at 240 s
      { status: 429, headers: { 'Retry-After': '1' } }, // 600 s scheduled → never shorter: 600 s
      { status: 204 },
    );
    const { delivery } = await eventFor(sink.url);
    assert.equal(await ended(await start(delivery)), 'succeeded');
    assertWaits(sink, [45, 240, 600]);
    const stored = await findDeliveryById(database.db, delivery.id);
    assert.equal(stored?.status, 'succeeded');
    assert.equal(stored?.last_status_code, 204);
  });

  test('410 Gone disables the endpoint and ends the delivery at once', async () => {
    const sink = await receiver({ status: 410 });
    const { endpoint, delivery } = await eventFor(sink.url);
    assert.equal(await ended(await start(delivery), 'endpoint_gone'), 'failed');
    assert.equal(sink.requests.length, 1);
    const after = await findEndpointById(database.db, endpoint.id);
    assert.equal(after?.enabled, false);
    assert.match(after?.disabled_reason ?? '', /410/);
  });

  test('an endpoint whose deliveries have all failed for KILN_ENDPOINT_DISABLE_AFTER is disabled with a reason; a success resets the clock', async () => {
    const failing = await receiver({ status: 500 });
    const { endpoint, delivery } = await eventFor(failing.url, []);
    // Its failures began six days ago (the worker here disables after five).
    await database.db
      .updateTable('webhook_endpoints')
      .set({ failing_since: new Date(Date.now() - 6 * 86_400_000) })
      .where('id', '=', endpoint.id)
      .execute();
    assert.equal(await ended(await start(delivery)), 'failed');
    const disabled = await findEndpointById(database.db, endpoint.id);
    assert.equal(disabled?.enabled, false);
    assert.match(disabled?.disabled_reason ?? '', /failed/);

    const healthy = await receiver({ status: 200 });
    const second = await eventFor(healthy.url, []);
    await database.db
      .updateTable('webhook_endpoints')
      .set({ failing_since: new Date(Date.now() - 86_400_000) })
      .where('id', '=', second.endpoint.id)
      .execute();
    assert.equal(await ended(await start(second.delivery)), 'succeeded');
    const after = await findEndpointById(database.db, second.endpoint.id);
    assert.equal(after?.failing_since, null);
    assert.equal(after?.enabled, true);
  });

  test('a refused address ends the delivery at once with blocked_address, and nothing is sent', async () => {
    const sink = await receiver({ status: 200 });
    // ::1 is not in this worker's allow-list (only 127.0.0.0/8 is).
    const { delivery } = await eventFor(`http://[::1]:${sink.port}/hooks`);
    assert.equal(await ended(await start(delivery), 'blocked_address'), 'failed');
    const [attempt, ...rest] = await listAttempts(database.db, delivery.id);
    assert.equal(rest.length, 0);
    assert.equal(attempt?.error_class, 'blocked_address');
    assert.equal(sink.connections, 0);
  });

  test('the cancel signal stops pending retries', async () => {
    const sink = await receiver({ status: 500 });
    const { delivery } = await eventFor(sink.url);
    const handle = await start(delivery);
    // Not awaiting the result keeps the server's clock from skipping past the 30 s wait.
    await waitUntil(async () => (await listAttempts(database.db, delivery.id)).length === 1, 20_000, 'the first attempt');
    await handle.signal(cancelSignal);
    assert.equal(await ended(handle), 'cancelled');
    assert.equal((await findDeliveryById(database.db, delivery.id))?.status, 'cancelled');
    assert.equal(sink.requests.length, 1);
  });

  test('cancelling the run (as the API and the Web UI do) stops pending retries and ends it Canceled', async () => {
    const sink = await receiver({ status: 500 });
    const { delivery } = await eventFor(sink.url);
    const handle = await start(delivery);
    await waitUntil(async () => (await listAttempts(database.db, delivery.id)).length === 1, 20_000, 'the first attempt');
    assert.equal(await cancelDeliveryRetries(env.client, delivery), true);
    assert.equal(await ended(handle), 'cancelled');
    assert.equal((await runEnding(handle)).state, 'CANCELLED');
    assert.equal((await findDeliveryById(database.db, delivery.id))?.status, 'cancelled');
    assert.equal(sink.requests.length, 1);
  });

  test('a run carries the delivery, its account, endpoint and event type for the Web UI filter', async () => {
    const sink = await receiver({ status: 200 });
    const { endpoint, delivery } = await eventFor(sink.url);
    const handle = await start(delivery);
    assert.equal(await ended(handle), 'succeeded');
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.deliveryId), delivery.id);
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.accountId), endpoint.account_id);
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.endpointId), endpoint.id);
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.eventType), 'conversion.failed');
  });

  test('redeliver during pending retries makes an immediate manual attempt that ends the delivery', async () => {
    const sink = await receiver({ status: 500 }, { status: 200 });
    const { delivery } = await eventFor(sink.url, [600]);
    const handle = await start(delivery);
    await waitUntil(async () => (await listAttempts(database.db, delivery.id)).length === 1, 20_000, 'the first attempt');
    await redeliver(env.client, database.db, delivery, TIMEOUT_SECONDS);
    assert.equal(await ended(handle), 'succeeded');
    const attempts = await listAttempts(database.db, delivery.id);
    assert.deepEqual(
      attempts.map((a) => [a.trigger, a.status_code]),
      [
        ['scheduled', 500],
        ['manual', 200],
      ],
    );
    assert.equal(sink.requests[0]!.headers['webhook-id'], sink.requests[1]!.headers['webhook-id']);
  });

  test('a failed manual attempt leaves the scheduled retries, and next_attempt_at, in place', async () => {
    const sink = await receiver({ status: 500 }, { status: 500 }, { status: 200 });
    const { delivery } = await eventFor(sink.url, [600]);
    const handle = await start(delivery);
    await waitUntil(async () => (await listAttempts(database.db, delivery.id)).length === 1, 20_000, 'the first attempt');
    const scheduledNext = (await findDeliveryById(database.db, delivery.id))?.next_attempt_at;
    assert.ok(scheduledNext);
    await redeliver(env.client, database.db, delivery, TIMEOUT_SECONDS);
    await waitUntil(async () => (await listAttempts(database.db, delivery.id)).length === 2, 20_000, 'the manual attempt');
    const between = await findDeliveryById(database.db, delivery.id);
    assert.equal(between?.status, 'pending');
    assert.equal(between?.next_attempt_at?.getTime(), scheduledNext.getTime());
    assert.equal(await ended(handle), 'succeeded');
    const attempts = await listAttempts(database.db, delivery.id);
    assert.deepEqual(
      attempts.map((a) => [a.trigger, a.status_code]),
      [
        ['scheduled', 500],
        ['manual', 500],
        ['scheduled', 200],
      ],
    );
    // The retry kept its time: 600 s after the first attempt (plus that attempt's own recording, as assertWaits allows).
    const retryAfter = (sink.requests[2]!.serverTime! - sink.requests[0]!.serverTime!) / 1000;
    assert.ok(retryAfter >= 600 && retryAfter < 602, `the retry came ${retryAfter} s after the first attempt, not 600 s`);
  });

  /** The delivery's one scheduled attempt failed (500), and the manual one that followed delivered it. */
  async function assertFailedThenRetried(deliveryId: string): Promise<void> {
    const attempts = await listAttempts(database.db, deliveryId);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.trigger, a.status_code]),
      [
        [1, 'scheduled', 500],
        [2, 'manual', 200],
      ],
    );
    assert.equal((await findDeliveryById(database.db, deliveryId))?.status, 'succeeded');
  }

  test('redeliver re-runs a closed delivery under the same workflow id', async () => {
    const sink = await receiver({ status: 500 }, { status: 200 });
    const { delivery } = await eventFor(sink.url, []);
    assert.equal(await ended(await start(delivery)), 'failed');
    await redeliver(env.client, database.db, delivery, TIMEOUT_SECONDS);
    assert.equal(await ended(env.client.workflow.getHandle(delivery.workflow_id)), 'succeeded');
    await assertFailedThenRetried(delivery.id);
    assert.equal(sink.requests[0]!.headers['webhook-id'], sink.requests[1]!.headers['webhook-id']);
  });

  test('a retry sent as the run records the delivery failed is made by a new run, not lost', async () => {
    const sink = await receiver({ status: 500 }, { status: 200 });
    const { delivery } = await eventFor(sink.url, []);
    retryAsTheRunEnds.set(delivery.id, delivery);
    const handle = await start(delivery);
    assert.equal(await ended(handle), 'succeeded');
    assert.equal(retryAsTheRunEnds.has(delivery.id), false, 'the retry was sent while the outcome was being recorded');
    await assertFailedThenRetried(delivery.id);
  });

  test('after a secret rotation both secrets sign until the overlap ends', async () => {
    const sink = await receiver({ status: 200 });
    const { endpoint, delivery } = await eventFor(sink.url);
    const rotated = await rotateEndpointSecret(database.db, endpoint.account_id, endpoint.id, 86_400);
    assert.ok(rotated && rotated.secret !== endpoint.secret);
    assert.equal(await ended(await start(delivery)), 'succeeded');
    const [during] = sink.requests;
    assert.equal(String(during!.headers['webhook-signature']).split(' ').length, 2);
    // X-Kiln-Signature, one signature, carries the old secret's through the overlap.
    verifyDelivery(during!, rotated.secret, endpoint.secret);
    assert.ok(new Webhook(endpoint.secret).verify(during!.body, headersOf(during!)), 'the old secret still verifies');

    // Once the overlap has passed, only the new secret signs.
    await database.db
      .updateTable('webhook_endpoints')
      .set({ previous_secret_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', endpoint.id)
      .execute();
    const second = await eventFor(sink.url, null, rotated);
    assert.equal(await ended(await start(second.delivery)), 'succeeded');
    const afterOverlap = sink.requests[1]!;
    assert.equal(String(afterOverlap.headers['webhook-signature']).split(' ').length, 1);
    verifyDelivery(afterOverlap, rotated.secret);
    assert.throws(() => new Webhook(endpoint.secret).verify(afterOverlap.body, headersOf(afterOverlap)));
  });
});

function headersOf(request: { headers: Record<string, unknown> }): Record<string, string> {
  return {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
}
