/**
 * `npm run bench:webhooks`: N events fanned out to M endpoints, all on one loopback
 * receiver, measured twice in one run:
 *   1. baseline: the same signed POSTs sent straight from a loop, as many at once as
 *      Kiln's kiln-deliver queue allows (no database, no Temporal, no durability);
 *   2. Kiln: each event stored with its M deliveries in one transaction, each delivery a
 *      workflow on a real Temporal dev server (the Temporal CLI, SQLite in a temp file)
 *      with embedded Postgres, delivered by Kiln's own workers.
 * Prints deliveries/s for both, the ratio Kiln/baseline, and p50/p99 from event creation
 * to receipt. Not a test: nothing here pass/fails.
 * BENCH_EVENTS (default 200), BENCH_ENDPOINTS (default 5), BENCH_PUBLISHERS (default 8),
 * BENCH_POSTGRES=1 for a real PostgreSQL server instead of the embedded database.
 */
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../src/config.js';
import type { StoredEventData } from '../src/events/catalog.js';
import { connectPostgres, migrateToLatest, openEmbeddedPostgres } from '../src/db/database.js';
import { startTestPostgres } from '../test/support/postgres.js';
import { createAccountWithKey } from '../src/db/accounts.js';
import { createEndpoint } from '../src/db/webhook-endpoints.js';
import { newId } from '../src/ids.js';
import { blobStoreFor } from '../src/roles/wiring.js';
import { startWorkerRole } from '../src/roles/worker.js';
import { installTemporalRuntime } from '../src/temporal/connection.js';
import { devServerExecutable } from '../tools/temporal-toolchain.js';
import { AddressGuard } from '../src/webhooks/address-guard.js';
import { publishEvent } from '../src/events/publish.js';
import { postWebhook } from '../src/webhooks/http-post.js';
import { generateWebhookSecret, signDelivery } from '../src/webhooks/signing.js';
import { startReceiver } from '../test/support/receiver.js';
import { tempDir } from '../test/support/temp.js';
import { cpuByRole, formatRoles, ownUsage } from './process-usage.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 5);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 8);
const TOTAL = EVENTS * ENDPOINTS;
const LIGHT_EVENTS = 20;

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function eventData(i: number): StoredEventData<'conversion.failed'> {
  return {
    conversion_id: `cnv_bench${i}`,
    status: 'failed',
    input: { filename: `bench-${i}.txt`, bytes: 12, content_type: 'text/plain', format: null, width: null, height: null },
    error: { code: 'unsupported_input', message: 'benchmark event' },
    metadata: null,
    tag: null,
  };
}

async function main(): Promise<void> {
  installTemporalRuntime('ERROR');
  const dir = tempDir('bench-webhooks');
  const receiver = await startReceiver([{ status: 204 }]);
  const guard = new AddressGuard(['127.0.0.0/8']);
  const config = loadConfig({
    KILN_DATA_DIR: dir.path,
    KILN_SIGNING_KEY: 'bench-signing-key',
    KILN_PUBLIC_URL: 'http://127.0.0.1:3000',
    KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  });
  console.log(
    `${EVENTS} events × ${ENDPOINTS} endpoints = ${TOTAL} deliveries; ${os.availableParallelism()} cores; kiln-deliver slots ${config.deliverConcurrency}`,
  );

  // 1. Baseline: signed POSTs straight from a loop.
  const secret = generateWebhookSecret();
  const jobs = Array.from({ length: TOTAL }, (_, i) => i);
  const baselineStarted = performance.now();
  await mapLimit(jobs, config.deliverConcurrency, async (i) => {
    const body = JSON.stringify({ id: `evt_${i}`, type: 'conversion.failed', timestamp: new Date().toISOString(), data: eventData(i) });
    const outcome = await postWebhook(
      `${receiver.url}/baseline`,
      { 'content-type': 'application/json', ...signDelivery([secret], `evt_${i}`, new Date(), body) },
      body,
      {
        guard,
        timeoutMs: 10_000,
      },
    );
    if (outcome.statusCode !== 204) throw new Error(`baseline POST failed: ${JSON.stringify(outcome)}`);
  });
  const baselineRate = TOTAL / ((performance.now() - baselineStarted) / 1000);
  receiver.requests.length = 0;

  // 2. Kiln: stored events, one delivery workflow per event and endpoint.
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: await devServerExecutable(),
      ip: '127.0.0.1',
      dbFilename: path.join(dir.path, 'temporal.db'),
      extraArgs: config.temporalSqlitePragmas.flatMap((p) => ['--sqlite-pragma', p]),
    },
  });
  // BENCH_POSTGRES=1: a real PostgreSQL server (Debian's, started in a temp dir) instead of the embedded one.
  const postgres = process.env.BENCH_POSTGRES ? await startTestPostgres() : undefined;
  const database = postgres ? connectPostgres(postgres.url) : await openEmbeddedPostgres(path.join(dir.path, 'pglite'));
  console.log(`database: ${postgres ? 'PostgreSQL server' : 'embedded PGlite'}`);
  await migrateToLatest(database.db);
  const account = (await createAccountWithKey(database.db, 'bench')).account;
  for (let i = 0; i < ENDPOINTS; i++) {
    await createEndpoint(database.db, account.id, {
      url: `${receiver.url}/ep${i}`,
      description: '',
      eventTypes: [],
      tags: [],
      retrySchedule: null,
      enabled: true,
    });
  }
  const worker = await startWorkerRole(config, database, { native: temporal.nativeConnection, client: temporal.client }, blobStoreFor(config));

  /** Stores one event with its deliveries and starts their workflows, as Kiln's activities do; answers its id. */
  const publish = async (subjectId: string, i: number): Promise<string> => {
    const event = await publishEvent(
      database.db,
      { accountId: account.id, type: 'conversion.failed', subjectId, dedupeKey: newId('evt'), data: eventData(i) },
      { kind: 'subscribers', tag: null, webhookUrl: null },
      config.webhookRetrySchedule,
    );
    await worker.deliveries.dispatch(event.deliveries);
    return event.id;
  };

  const createdAt = new Map<string, number>();
  const usageBefore = ownUsage();
  const kilnStarted = performance.now();
  const startedAtMs = Date.now();
  await mapLimit(jobs.slice(0, EVENTS), PUBLISHERS, async (i) => {
    const before = Date.now();
    createdAt.set(await publish(`cnv_bench${i}`, i), before);
  });
  const publishSeconds = (Date.now() - startedAtMs) / 1000;
  await receiver.waitForRequests(TOTAL, 600_000);
  const kilnSeconds = (performance.now() - kilnStarted) / 1000;
  const kilnRate = TOTAL / kilnSeconds;
  const cpu = cpuByRole(usageBefore, ownUsage(), (usage) => (usage.pid === process.pid ? 'kiln' : usage.command === 'temporal' ? 'temporal' : 'other'));
  const latencies = receiver.requests.map((r) => r.receivedAt - createdAt.get(String(r.headers['webhook-id']))!).sort((a, b) => a - b);

  console.log(`baseline (signed POSTs from a loop): ${baselineRate.toFixed(1)} deliveries/s`);
  console.log(
    `Kiln (durable, one workflow each):   ${kilnRate.toFixed(1)} deliveries/s  (${TOTAL} in ${kilnSeconds.toFixed(1)} s; events published in ${publishSeconds.toFixed(1)} s)`,
  );
  console.log(`ratio Kiln/baseline: ${(kilnRate / baselineRate).toFixed(3)}`);
  console.log(`CPU: ${formatRoles(cpu, TOTAL, 'delivery')} (kiln = this process: workers${postgres ? '' : ', embedded Postgres'} and the receiver)`);
  console.log(
    `event creation → receipt during the burst: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`,
  );

  // Light load: one event at a time, each published once the previous one's deliveries all arrived.
  const light: number[] = [];
  for (let i = 0; i < LIGHT_EVENTS; i++) {
    const received = receiver.requests.length;
    const before = performance.now();
    await publish(`cnv_light${i}`, i);
    await receiver.waitForRequests(received + ENDPOINTS, 30_000);
    light.push(Math.round(performance.now() - before));
  }
  light.sort((a, b) => a - b);
  console.log(
    `event creation → last of its ${ENDPOINTS} receipts at light load (${LIGHT_EVENTS} events one by one): p50 ${percentile(light, 50)} ms, p99 ${percentile(light, 99)} ms`,
  );
  console.log(
    `peak RSS of this process (Kiln's workers${postgres ? '' : ', embedded Postgres'}, receiver): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  );

  worker.stop();
  await worker.done;
  await temporal.teardown();
  await database.close();
  postgres?.stop();
  await receiver.close();
  dir.remove();
}

await main();
