/**
 * `npm run bench:fanout`: one account's webhook fan-out beside another account's retry, on
 * Kiln's parts in one process as `kiln dev` runs them (embedded Postgres, the dev server,
 * API and worker roles). Account A has BENCH_ENDPOINTS endpoints (default 500) on a
 * loopback receiver and makes BENCH_UPLOADS small uploads (default 20, one every 100 ms):
 * every event of each conversion goes to every endpoint. Account B's endpoint fails its first
 * attempt and retries after 4 s. Prints A's upload answer times (p50, max), how late B's
 * retry was made against its schedule, and how long A's deliveries took in all, against the
 * bare loop of the same number of POSTs to the same receiver. Not a test: nothing here
 * pass/fails.
 */
import { startTestKiln } from '../test/support/kiln.js';
import { createAccount, jsonRequest, request, uploadForm } from '../test/support/http.js';
import { startReceiver } from '../test/support/receiver.js';
import { makeImage } from '../test/support/images.js';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 500);
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 20);

const kiln = await startTestKiln('embedded', { KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8', KILN_LOG_LEVEL: 'warn' });
const busy = await createAccount(kiln.url, kiln.adminToken, 'busy');
const quiet = await createAccount(kiln.url, kiln.adminToken, 'quiet');
const sink = await startReceiver([{ status: 200 }]);
for (let i = 0; i < ENDPOINTS; i++) await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, busy.key, 'POST', { url: `${sink.url}/e${i}` });
const flaky = await startReceiver([{ status: 500 }, { status: 200 }]);
const endpoint = (await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, quiet.key, 'POST', { url: flaky.url, retry_schedule: ['4s'] })).body;
const image = await makeImage(32, 32, 'png');

const started = Date.now();
const answers: number[] = [];
await Promise.all(
  Array.from({ length: UPLOADS }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 100));
    const sent = Date.now();
    const answer = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: busy.key, body: uploadForm(image, 'a.png', { output_format: 'webp' }) });
    answers.push(Date.now() - sent);
    if (answer.status !== 202) throw new Error(`${answer.status} ${JSON.stringify(answer.body)}`);
  }),
);
const test = (await jsonRequest(`${kiln.url}/v1/webhooks/endpoints/${endpoint.id}/test`, quiet.key, 'POST')).body;
await flaky.waitForRequests(2, 600_000);
const delivery = (await jsonRequest(`${kiln.url}/v1/webhooks/deliveries?event_id=${test.event_id}`, quiet.key, 'GET')).body.data[0];
const attempts = (await jsonRequest(`${kiln.url}/v1/webhooks/deliveries/${delivery.id}`, quiet.key, 'GET')).body.attempts;
const retryLate = Date.parse(attempts[1].started_at) - (Date.parse(attempts[0].started_at) + attempts[0].duration_ms + 4000);
const busyAtRetry = sink.requests.length;

// Every conversion sends file.uploaded, conversion.started and conversion.completed to every endpoint.
const total = ENDPOINTS * UPLOADS * 3;
await sink.waitForRequests(total, 1_800_000);
const deliveredSeconds = (Math.max(...sink.requests.map((r) => r.receivedAt)) - started) / 1000;

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

answers.sort((a, b) => a - b);
console.log(`${ENDPOINTS} endpoints × ${UPLOADS} uploads: uploads answered p50 ${answers[Math.floor(UPLOADS / 2)]} ms, max ${answers.at(-1)} ms`);
console.log(`the other account's retry was made ${retryLate} ms after it was due (${busyAtRetry} of the ${total} delivered by then)`);
console.log(
  `${total} deliveries in ${deliveredSeconds.toFixed(1)} s (${Math.round(total / deliveredSeconds)}/s); the bare POST loop ${loopSeconds.toFixed(1)} s: ratio ${(loopSeconds / deliveredSeconds).toFixed(2)}`,
);
await sink.close();
await flaky.close();
await kiln.stop();
process.exit(0);
