/**
 * `npm run bench:fairness`: how long a quiet account (B) waits for a thumbnail while another
 * account (A) keeps the converters busy, on the dev server as `kiln dev` runs it and on the
 * production topology (`npm run topology`: the real Temporal server on Postgres, S3, `kiln
 * api` and BENCH_WORKERS `kiln worker`s, default 2). For each: B's thumbnail (a 640×480 JPEG
 * to a 100 px WebP) BENCH_SAMPLES times (default 10) one after another with A idle, behind
 * A's backlog of 60 slow single conversions (a 1300×1300 noise PNG to AVIF, sent from 6
 * clients), and behind A's job of the same 60 files. Prints p50 and p99 of B's latency
 * (from its request to its conversion's completed_at), their ratios to the idle p50, and
 * how many of A's conversions were still waiting when B's last thumbnail finished (proof
 * that B really ran behind a backlog). Not a test: nothing here pass/fails.
 */
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createAccount, request, uploadForm } from '../test/support/http.js';
import { freePort } from '../test/support/postgres.js';
import { startKilnDev, stopGracefully } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';
import { startTopology } from '../tools/topology/topology.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const BACKLOG = 60;
const CLIENTS = 6;

interface Kiln {
  name: string;
  api: string;
  adminToken: string;
  stop(): Promise<void>;
}

type Account = { key: string };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function submit(kiln: Kiln, account: Account, file: Buffer, fields: Record<string, string>): Promise<string> {
  const answer = await request(`${kiln.api}/v1/conversions`, { method: 'POST', key: account.key, body: uploadForm(file, 'in', fields) });
  if (answer.status !== 202) throw new Error(`${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.id;
}

async function finished(kiln: Kiln, account: Account, id: string): Promise<any> {
  for (;;) {
    const conversion = (await request(`${kiln.api}/v1/conversions/${id}`, { key: account.key })).body;
    if (['succeeded', 'failed', 'cancelled'].includes(conversion.status)) return conversion;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** B's thumbnails, one after another: each one's milliseconds from its request to its completion (the server's clock). */
async function thumbnails(kiln: Kiln, b: Account, thumbnail: Buffer): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const sentAt = Date.now();
    const done = await finished(kiln, b, await submit(kiln, b, thumbnail, { output_format: 'webp', width: '100' }));
    if (done.status !== 'succeeded') throw new Error(JSON.stringify(done));
    // The request's start on this clock, its end on the server's: both run on this machine.
    latencies.push(Date.parse(done.completed_at) - sentAt);
  }
  return latencies;
}

async function waiting(kiln: Kiln, a: Account, ids: string[]): Promise<number> {
  const states = await Promise.all(ids.map(async (id) => (await request(`${kiln.api}/v1/conversions/${id}`, { key: a.key })).body.status));
  return states.filter((status) => status === 'queued').length;
}

async function cancelAll(kiln: Kiln, a: Account, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => request(`${kiln.api}/v1/conversions/${id}/cancel`, { method: 'POST', key: a.key })));
  await Promise.all(ids.map((id) => finished(kiln, a, id)));
}

async function measure(kiln: Kiln, slow: Buffer, thumbnail: Buffer): Promise<void> {
  const a = await createAccount(kiln.api, kiln.adminToken, 'bench-busy');
  const b = await createAccount(kiln.api, kiln.adminToken, 'bench-quiet');
  // Warm-up: converters started, paths taken once.
  await thumbnails(kiln, b, thumbnail);
  const oneSlow = Date.now();
  await finished(kiln, a, await submit(kiln, a, slow, { output_format: 'avif' }));
  const slowMs = Date.now() - oneSlow;

  const idle = await thumbnails(kiln, b, thumbnail);

  const backlog: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < BACKLOG) {
        next++;
        backlog.push(await submit(kiln, a, slow, { output_format: 'avif' }));
      }
    }),
  );
  const behindBacklog = await thumbnails(kiln, b, thumbnail);
  const backlogLeft = await waiting(kiln, a, backlog);
  await cancelAll(kiln, a, backlog);

  const form = new FormData();
  form.set('output_format', 'avif');
  for (let i = 0; i < BACKLOG; i++) form.append('file', new Blob([slow]), `f${i}.png`);
  const job = await request(`${kiln.api}/v1/jobs`, { method: 'POST', key: a.key, body: form });
  if (job.status !== 202) throw new Error(JSON.stringify(job.body));
  const behindJob = await thumbnails(kiln, b, thumbnail);
  const jobState = (await request(`${kiln.api}/v1/jobs/${job.body.id}`, { key: a.key })).body;
  const jobLeft = BACKLOG - (jobState.counts?.succeeded ?? 0) - (jobState.counts?.failed ?? 0);
  await request(`${kiln.api}/v1/jobs/${job.body.id}/cancel`, { method: 'POST', key: a.key });

  const base = percentile(idle, 50);
  const row = (label: string, values: number[], left: string) =>
    `  ${label.padEnd(26)} p50 ${String(percentile(values, 50)).padStart(6)} ms (×${(percentile(values, 50) / base).toFixed(1)})   p99 ${String(percentile(values, 99)).padStart(6)} ms (×${(percentile(values, 99) / base).toFixed(1)})   ${left}`;
  console.log(`\n${kiln.name}: one of A's slow conversions alone takes ${slowMs} ms; B's thumbnail, ${SAMPLES} samples each`);
  console.log(row('A idle', idle, ''));
  console.log(row(`behind A's ${BACKLOG} singles`, behindBacklog, `(${backlogLeft} of A's still queued after)`));
  console.log(row(`behind A's job of ${BACKLOG}`, behindJob, `(${jobLeft} of A's files not done after)`));
}

const noise = await sharp(Buffer.from(Array.from({ length: 1300 * 1300 * 3 }, () => Math.floor(Math.random() * 256))), {
  raw: { width: 1300, height: 1300, channels: 3 },
})
  .png()
  .toBuffer();
const thumbnail = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#336699' } })
  .jpeg()
  .toBuffer();

async function devServerKiln(): Promise<Kiln> {
  const dir = tempDir('bench-fairness-dev');
  const port = await freePort();
  const child = await startKilnDev({
    PORT: String(port),
    KILN_DATA_DIR: dir.path,
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    KILN_LOG_LEVEL: 'warn',
  });
  return {
    name: 'dev server (kiln dev, one process)',
    api: `http://127.0.0.1:${port}`,
    adminToken: readFileSync(path.join(dir.path, 'admin-token'), 'utf8').trim(),
    stop: async () => {
      await stopGracefully(child, 120_000);
      dir.remove();
    },
  };
}

async function topologyKiln(): Promise<Kiln> {
  const dir = tempDir('bench-fairness-topology');
  chmodSync(dir.path, 0o755);
  const topology = await startTopology({ dir: dir.path, workers: WORKERS, ports: 'free', ui: false, log: () => undefined });
  return {
    name: `production topology (Temporal server on Postgres, S3, kiln api, ${WORKERS} kiln workers)`,
    api: topology.apiUrl,
    adminToken: topology.adminToken,
    stop: async () => {
      await topology.stop();
      dir.remove();
    },
  };
}

for (const start of [devServerKiln, topologyKiln]) {
  const kiln = await start();
  try {
    await measure(kiln, noise, thumbnail);
  } finally {
    await kiln.stop();
  }
}
process.exit(0);
