/**
 * `npm run bench:webhooks`: events fanned out to endpoints on a loopback receiver (a process
 * of its own), with 500, 5 and 1 endpoint per event, on the embedded database and on a real
 * PostgreSQL server, all in one run, each case against a baseline measured in the same run:
 *   1. baseline: the same signed POSTs sent straight from a loop, as many at once as
 *      Kiln's delivery concurrency allows (no database, no Temporal, no durability);
 *   2. Kiln: each event stored with its deliveries in one transaction, as Kiln's activities
 *      and API store them, then delivered by Kiln's worker role (first attempts in the
 *      worker, retries as workflows) against a real Temporal dev server.
 * Prints deliveries/s, the ratio Kiln/baseline, event creation → receipt p50/p99 during
 * the burst and at light load (one event at a time), CPU seconds per delivery by process
 * and the peak RSS of this process (Kiln's side). Not a test: nothing here pass/fails.
 * BENCH_DELIVERIES (default 3000) per case, BENCH_PUBLISHERS (default 8) events stored at
 * once, BENCH_POSTGRES=0 to skip the PostgreSQL column.
 */
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import type { StoredEventData } from '../src/model/event-catalog.js';
import { connectPostgres, migrateToLatest, openEmbeddedPostgres, type DatabaseHandle } from '../src/db/database.js';
import { startTestPostgres, type TestPostgres } from '../test/support/postgres.js';
import { createAccountWithKey } from '../src/db/accounts.js';
import { createEndpoint } from '../src/db/webhook-endpoints.js';
import { newId } from '../src/ids.js';
import { blobStoreFor } from '../src/roles/wiring.js';
import { startWorkerRole, type WorkerRole } from '../src/roles/worker.js';
import { installTemporalRuntime } from '../src/temporal/connection.js';
import { AddressGuard } from '../src/net/address-guard.js';
import { publishEvent } from '../src/events/publish.js';
import { postWebhook } from '../src/webhooks/http-post.js';
import { handOver } from '../src/webhooks/dispatch.js';
import { generateWebhookSecret, signDelivery } from '../src/signing/webhook-signature.js';
import { tempDir } from '../test/support/temp.js';
import { benchDevServer } from './dev-server.js';
import { cpuByRole, ownUsage, type ProcessUsage } from './process-usage.js';
import { mapLimit } from './photos.js';
import { startReceiverProcess, type Receiver } from './receiver.js';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 3000);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 8);
/** 500: an event past the 20 targets its own transaction plans, whose fan-out is planned after it (events/publish.ts). */
const ENDPOINT_COUNTS = [500, 5, 1];
const LIGHT_EVENTS = 20;

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

interface CaseResult {
  database: string;
  endpoints: number;
  rate: number;
  baseline: number;
  burstP50: number;
  burstP99: number;
  lightP50: number;
  lightP99: number;
  cpu: Map<string, number>;
}

/** Signed POSTs straight from a loop: what the same deliveries cost with nothing durable around them. */
async function baselineRate(receiver: Receiver, endpoints: number, concurrency: number): Promise<number> {
  const guard = new AddressGuard(['127.0.0.0/8']);
  const secret = generateWebhookSecret();
  const jobs = Array.from({ length: DELIVERIES }, (_, i) => i);
  const before = receiver.total();
  const started = performance.now();
  await mapLimit(jobs, concurrency, async (i) => {
    const id = `evt_baseline_${endpoints}_${i}`;
    const body = JSON.stringify({ id, type: 'conversion.failed', timestamp: new Date().toISOString(), data: eventData(i) });
    const headers = { 'content-type': 'application/json', ...signDelivery([secret], id, new Date(), body) };
    const outcome = await postWebhook(`${receiver.url}/ep${i % endpoints}`, headers, body, { guard, timeoutMs: 10_000 });
    if (outcome.statusCode !== 204) throw new Error(`baseline POST failed: ${JSON.stringify(outcome)}`);
  });
  await receiver.waitFor(before + DELIVERIES);
  return DELIVERIES / ((performance.now() - started) / 1000);
}

async function runCase(
  label: string,
  endpoints: number,
  baseline: number,
  kiln: { database: DatabaseHandle; worker: WorkerRole; postgres?: TestPostgres; defaultSchedule: number[] },
  receiver: Receiver,
): Promise<CaseResult> {
  const { db } = kiln.database;
  const account = (await createAccountWithKey(db, `bench-${label}-${endpoints}`)).account;
  for (let i = 0; i < endpoints; i++) {
    await createEndpoint(db, account.id, {
      url: `${receiver.url}/ep${i}`,
      description: '',
      eventTypes: [],
      tags: [],
      retrySchedule: null,
      enabled: true,
      headers: {},
    });
  }
  /** Stores one event with its deliveries and hands them over, as Kiln's activities and API do; answers its id. */
  const publish = async (i: number): Promise<string> => {
    const event = await publishEvent(
      db,
      { accountId: account.id, type: 'conversion.failed', subjectId: `cnv_bench${i}`, dedupeKey: newId('evt'), data: eventData(i) },
      { kind: 'subscribers', tag: null, webhookUrl: null, webhookEvents: null },
      kiln.defaultSchedule,
    );
    await handOver(kiln.worker.deliveries, [event]);
    return event.id;
  };
  const usage = (): ProcessUsage[] => ownUsage(...(kiln.postgres?.pid() ? [kiln.postgres.pid()!] : []));
  const roleOf = (u: ProcessUsage): string =>
    u.pid === process.pid
      ? 'kiln'
      : u.pid === receiver.child.pid
        ? 'receiver'
        : u.command === 'temporal'
          ? 'temporal'
          : u.command === 'postgres'
            ? 'postgres'
            : 'other';

  const events = Math.round(DELIVERIES / endpoints);
  const total = events * endpoints;
  const createdAt = new Map<string, number>();
  const before = usage();
  const received = receiver.total();
  const started = Date.now();
  await mapLimit(
    Array.from({ length: events }, (_, i) => i),
    PUBLISHERS,
    async (i) => {
      const at = Date.now();
      createdAt.set(await publish(i), at);
    },
  );
  await receiver.waitFor(received + total);
  const arrivals = [...createdAt].flatMap(([id, at]) => (receiver.arrivals.get(id) ?? []).map((t) => t - at));
  const last = Math.max(...[...createdAt.keys()].flatMap((id) => receiver.arrivals.get(id) ?? []));
  const rate = total / ((last - started) / 1000);
  const cpu = cpuByRole(before, usage(), roleOf);
  for (const [role, seconds] of cpu) cpu.set(role, seconds / total);
  arrivals.sort((a, b) => a - b);

  // Light load: one event at a time, each stored once the previous one's deliveries all arrived.
  const light: number[] = [];
  for (let i = 0; i < LIGHT_EVENTS; i++) {
    const at = Date.now();
    const id = await publish(events + i);
    await receiver.waitFor(receiver.total() + endpoints - (receiver.arrivals.get(id)?.length ?? 0), 30_000);
    light.push(Math.max(...(receiver.arrivals.get(id) ?? [Infinity])) - at);
  }
  light.sort((a, b) => a - b);
  return {
    database: label,
    endpoints,
    rate,
    baseline,
    burstP50: percentile(arrivals, 50),
    burstP99: percentile(arrivals, 99),
    lightP50: percentile(light, 50),
    lightP99: percentile(light, 99),
    cpu,
  };
}

async function main(): Promise<void> {
  installTemporalRuntime('ERROR');
  const dir = tempDir('bench-webhooks');
  const config = loadConfig({
    KILN_DATA_DIR: dir.path,
    KILN_SIGNING_KEY: 'bench-signing-key',
    KILN_PUBLIC_URL: 'http://127.0.0.1:3000',
    KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  });
  const receiver = await startReceiverProcess();
  console.log(
    `${DELIVERIES} deliveries per case, events stored ${PUBLISHERS} at a time; ${os.availableParallelism()} cores; deliveries at once: ${config.deliverConcurrency}`,
  );
  const baselines = new Map<number, number>();
  for (const endpoints of ENDPOINT_COUNTS) baselines.set(endpoints, await baselineRate(receiver, endpoints, config.deliverConcurrency));

  const temporal = await benchDevServer(dir.path, config);
  const databases: Array<{ label: string; open: () => Promise<{ database: DatabaseHandle; postgres?: TestPostgres }> }> = [
    { label: 'embedded', open: async () => ({ database: await openEmbeddedPostgres(path.join(dir.path, 'pglite')) }) },
  ];
  if (process.env.BENCH_POSTGRES !== '0') {
    databases.push({
      label: 'PostgreSQL',
      open: async () => {
        const postgres = await startTestPostgres();
        return { database: connectPostgres(postgres.url), postgres };
      },
    });
  }

  const results: CaseResult[] = [];
  for (const { label, open } of databases) {
    const { database, postgres } = await open();
    try {
      await migrateToLatest(database.db);
      const worker = await startWorkerRole(config, database, { native: temporal.nativeConnection, client: temporal.client }, blobStoreFor(config));
      try {
        for (const endpoints of ENDPOINT_COUNTS) {
          results.push(
            await runCase(label, endpoints, baselines.get(endpoints)!, { database, worker, postgres, defaultSchedule: config.webhookRetrySchedule }, receiver),
          );
        }
      } finally {
        worker.stop();
        await worker.done;
      }
    } finally {
      await database.close();
      postgres?.stop();
    }
  }

  const roles = ['kiln', 'temporal', 'postgres', 'receiver'];
  const cells = results.map((r) => [
    r.database,
    String(r.endpoints),
    r.baseline.toFixed(0),
    r.rate.toFixed(0),
    (r.rate / r.baseline).toFixed(3),
    `${r.burstP50} / ${r.burstP99}`,
    `${r.lightP50} / ${r.lightP99}`,
    roles.map((role) => ((r.cpu.get(role) ?? 0) * 1000).toFixed(2)).join(' / '),
  ]);
  const header = [
    'database',
    'endpoints',
    'baseline/s',
    'Kiln/s',
    'ratio',
    'burst p50 / p99 ms',
    'light p50 / p99 ms',
    `CPU ms per delivery: ${roles.join(' / ')}`,
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(header)}\n${cells.map(line).join('\n')}`);
  console.log('\nlatency: from the moment an event is stored to its receipt (light load: to the last of its receipts, one event at a time)');
  console.log('kiln = this process: the worker role with its first attempts, the embedded database when used, the code that stores events');
  console.log(`peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);

  await temporal.teardown();
  receiver.child.kill();
  dir.remove();
}

await main();
