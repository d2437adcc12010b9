/**
 * `npm run bench:fanout`: what an account's webhook fan-out costs its own uploads and
 * another account's retry, on the compiled `kiln dev` that `npm start` runs (a process of
 * its own: embedded Postgres, the dev server, API and worker roles) with a receiver in a
 * process of its own. Two accounts make BENCH_UPLOADS small uploads each (default 20, one
 * every 100 ms), one after the other: the first with one endpoint, the second with
 * BENCH_ENDPOINTS (default 500); every event of each conversion goes to every endpoint.
 * Meanwhile a third account's endpoint fails its first attempt and retries after 4 s.
 * Prints each account's upload answer times (p50, max) and their ratio, how late the
 * third account's retry was made against its schedule, and how long the second account's
 * deliveries took in all, against a bare loop of the same number of POSTs to the same
 * receiver. BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the Kiln process there. Not a
 * test: nothing here pass/fails.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../src/free-port.js';
import { createAccount, jsonRequest, request, uploadForm } from '../test/support/http.js';
import { startReceiver } from '../test/support/receiver.js';
import { makeImage } from '../test/support/images.js';
import { startKilnDev, stopGracefully, waitUntil } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';
import { startReceiverProcess, type Receiver } from './receiver.js';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 500);
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 20);
/** Every conversion sends file.uploaded, conversion.started and conversion.completed to every endpoint. */
const EVENTS_PER_UPLOAD = 3;

const dir = tempDir('bench-fanout');
const adminToken = 'bench-admin-token-0123456789';
const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const kiln = await startKilnDev(
  { ...ports, KILN_DATA_DIR: dir.path, KILN_ADMIN_TOKEN: adminToken, KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8', KILN_LOG_LEVEL: 'warn' },
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the Kiln process lands there on stop.
  { built: true, timeoutMs: 600_000, nodeArgs: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [] },
);
const api = `http://127.0.0.1:${ports.PORT}`;
const sink = await startReceiverProcess();
const image = await makeImage(32, 32, 'png');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** An account with `endpoints` endpoints on the sink makes its uploads; answers their answer times, sorted, and when they began. */
async function uploadsOfAccount(name: string, endpoints: number): Promise<{ answers: number[]; started: number }> {
  const account = await createAccount(api, adminToken, name);
  for (let i = 0; i < endpoints; i++) await jsonRequest(`${api}/v1/webhooks/endpoints`, account.key, 'POST', { url: `${sink.url}/${name}/${i}` });
  const started = Date.now();
  const answers: number[] = [];
  await Promise.all(
    Array.from({ length: UPLOADS }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 100));
      const sent = performance.now();
      const answer = await request(`${api}/v1/conversions`, { method: 'POST', key: account.key, body: uploadForm(image, 'a.png', { output_format: 'webp' }) });
      answers.push(performance.now() - sent);
      if (answer.status !== 202) throw new Error(`${answer.status} ${JSON.stringify(answer.body)}`);
    }),
  );
  return { answers: answers.sort((a, b) => a - b), started };
}

/** Resolves when the sink has `count` requests in all, and answers when the last of them came. */
async function allDelivered(receiver: Receiver, count: number): Promise<number> {
  await receiver.waitFor(count, 1_800_000);
  return Math.max(...[...receiver.arrivals.values()].flat());
}

try {
  // Warm-up: the first uploads pay for start-up paths, not for the fan-out.
  await uploadsOfAccount('warm-up', 0);
  const one = await uploadsOfAccount('one-endpoint', 1);
  await allDelivered(sink, UPLOADS * EVENTS_PER_UPLOAD);

  const quiet = await createAccount(api, adminToken, 'quiet');
  const flaky = await startReceiver([{ status: 500 }, { status: 200 }]);
  const endpoint = (await jsonRequest(`${api}/v1/webhooks/endpoints`, quiet.key, 'POST', { url: flaky.url, retry_schedule: ['4s'] })).body;

  const before = sink.total();
  const many = await uploadsOfAccount('many-endpoints', ENDPOINTS);
  const test = (await jsonRequest(`${api}/v1/webhooks/endpoints/${endpoint.id}/test`, quiet.key, 'POST')).body;
  await flaky.waitForRequests(2, 600_000);
  const delivery = (await jsonRequest(`${api}/v1/webhooks/deliveries?event_id=${test.event_id}`, quiet.key, 'GET')).body.data[0];
  // The second attempt is logged after its answer came: wait for the log, not the receipt.
  let attempts: any[] = [];
  await waitUntil(
    async () => (attempts = (await jsonRequest(`${api}/v1/webhooks/deliveries/${delivery.id}`, quiet.key, 'GET')).body.attempts).length >= 2,
    600_000,
    'the retry in the delivery log',
  );
  const retryLate = Date.parse(attempts[1].started_at) - (Date.parse(attempts[0].started_at) + attempts[0].duration_ms + 4000);
  const busyAtRetry = sink.total() - before;
  const total = ENDPOINTS * UPLOADS * EVENTS_PER_UPLOAD;
  const deliveredSeconds = ((await allDelivered(sink, before + total)) - many.started) / 1000;
  await flaky.close();

  const loopStarted = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < total) {
        next++;
        await (await fetch(`${sink.url}/loop`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).text();
      }
    }),
  );
  const loopSeconds = (Date.now() - loopStarted) / 1000;

  const p50 = (answers: number[]): number => percentile(answers, 50);
  const line = (endpoints: number, answers: number[]): string =>
    `${endpoints} endpoint(s) × ${UPLOADS} uploads: answered p50 ${p50(answers).toFixed(0)} ms, max ${answers.at(-1)!.toFixed(0)} ms`;
  console.log(line(1, one.answers));
  console.log(line(ENDPOINTS, many.answers));
  console.log(`  upload p50 ratio, ${ENDPOINTS} endpoints / 1: ${(p50(many.answers) / p50(one.answers)).toFixed(2)}`);
  console.log(`the other account's retry was made ${retryLate} ms after it was due (${busyAtRetry} of the ${total} delivered by then)`);
  console.log(
    `${total} deliveries in ${deliveredSeconds.toFixed(1)} s (${Math.round(total / deliveredSeconds)}/s); the bare POST loop ${loopSeconds.toFixed(1)} s: ratio ${(loopSeconds / deliveredSeconds).toFixed(2)}`,
  );
} finally {
  sink.child.kill();
  await stopGracefully(kiln);
  dir.remove();
}
process.exit(0);
