/**
 * `npm run bench:dashboard`: how the dashboard feels, in Debian's Chromium against a real
 * Kiln (embedded Postgres, the dev server) on loopback.
 *
 * - The first page: from navigation to the overview's charts drawn, with the API key
 *   already in the tab, BENCH_LOADS times (default 10); against the same requests (the
 *   page, its two assets, /v1/overview) fetched one after another from the same tab.
 * - A delivery log of BENCH_DELIVERIES (default 10,000): the first page of rows, each turn
 *   to the next page (BENCH_TURNS, default 20) and a filter change, from the click to the
 *   new rows; against the API's own answer for the same page, fetched from the tab. The
 *   rows in the page and the bytes of each list answer show it is paged, never loaded whole.
 * - The JavaScript's size, raw and gzipped.
 *
 * The deliveries are real rows, published by Kiln's own publishEvents to an endpoint and
 * then marked ended (9 in 10 succeeded), so nothing is sent while the page is measured.
 * Not a test: nothing here pass/fails.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { chromium, type Page } from 'playwright-core';
import { startTestKiln } from '../test/support/kiln.js';
import { createAccount, jsonRequest } from '../test/support/http.js';
import { publishEvents } from '../src/events/publish.js';
import { DASHBOARD_DIR } from '../src/api/routes/dashboard.js';
import { buildWeb } from '../scripts/build-web.js';

const LOADS = Number(process.env.BENCH_LOADS ?? 10);
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 10_000);
const TURNS = Number(process.env.BENCH_TURNS ?? 20);
const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';

await buildWeb();
const kiln = await startTestKiln('embedded', { KILN_LOG_LEVEL: 'warn' });
const account = await createAccount(kiln.url, kiln.adminToken, 'dashboard-bench');
const endpoint = (await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, account.key, 'POST', { url: 'https://hooks.example.com/bench' })).body;
const stored = await kiln.database.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', endpoint.id).executeTakeFirstOrThrow();

const seeding = Date.now();
for (let start = 0; start < DELIVERIES; start += 500) {
  const events = Array.from({ length: Math.min(500, DELIVERIES - start) }, (_, i) => ({
    accountId: account.id,
    type: 'webhook.test' as const,
    subjectId: endpoint.id,
    dedupeKey: `bench:${start + i}`,
    data: { endpoint_id: endpoint.id, message: `bench ${start + i}` },
  }));
  await publishEvents(kiln.database.db, events, { kind: 'endpoint', endpoint: stored }, [30]);
}
await sql`update deliveries set
    status = case when right(id, 1) < '2' then 'failed' else 'succeeded' end,
    attempt_count = 1, last_status_code = case when right(id, 1) < '2' then 503 else 204 end,
    completed_at = now(), dispatched_at = now()
  where account_id = ${account.id}`.execute(kiln.database.db);
console.log(`seeded ${DELIVERIES} deliveries in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
// The key as the sign-in page leaves it: in the tab's session storage.
await context.addInitScript(`sessionStorage.setItem('kiln.api_key', ${JSON.stringify(account.key)})`);

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const p95 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil(values.length * 0.95) - 1)]!;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

/** Polls `expression` in the tab (evaluated as the devtools do, which the page's policy allows) until it holds. */
async function until(page: Page, expression: string): Promise<void> {
  while (!(await page.evaluate<boolean>(expression))) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** Sequential fetches from inside the tab, as the page makes them: the floor under its own timings. */
async function fetchedInTab(page: Page, urls: string[]): Promise<number> {
  return page.evaluate(
    `(async () => {
      const started = performance.now();
      for (const url of ${JSON.stringify(urls)}) {
        const response = await fetch(url, { headers: url.startsWith('/v1/') ? { authorization: 'Bearer ' + sessionStorage.getItem('kiln.api_key') } : {}, cache: 'no-cache' });
        await response.arrayBuffer();
      }
      return performance.now() - started;
    })()`,
  );
}

// 1. The first page, interactive: its charts drawn and its links live.
const loads: number[] = [];
const floors: number[] = [];
for (let i = 0; i < LOADS; i++) {
  const page = await context.newPage();
  await page.goto(`${kiln.url}/app/overview`);
  await page.getByRole('region', { name: 'Conversions by status' }).waitFor();
  loads.push(await page.evaluate<number>('performance.now()'));
  floors.push(await fetchedInTab(page, ['/app/overview', '/app/assets/app.js', '/app/assets/app.css', '/v1/overview?hours=24']));
  await page.close();
}
console.log(
  `first page interactive (overview charted): p50 ${ms(median(loads))}, max ${ms(Math.max(...loads))}; the same four requests fetched in turn: p50 ${ms(median(floors))}; ratio ${(median(loads) / median(floors)).toFixed(1)}`,
);

// 2. The delivery log.
const page = await context.newPage();
const listAnswers: number[] = [];
page.on('response', (response) => {
  if (new URL(response.url()).pathname === '/v1/webhooks/deliveries') void response.body().then((body) => listAnswers.push(body.length));
});
const firstRow = () => page.locator('tbody tr a').first().getAttribute('href');
let started = Date.now();
await page.goto(`${kiln.url}/app/webhooks/deliveries`);
await page.locator('tbody tr a').first().waitFor();
const firstList = Date.now() - started;
/**
 * Clicks the button named `label` from inside the tab and answers the milliseconds until
 * `changed` holds (watched by a MutationObserver) and the next frame is drawn: what a reader
 * waits, without the driver's own checks before a click.
 */
async function timedClick(label: string, changed: string): Promise<number> {
  return page.evaluate<number>(`(async () => {
    const started = performance.now();
    [...document.querySelectorAll('button')].find((b) => b.textContent === ${JSON.stringify(label)}).click();
    await new Promise((resolve) => {
      const done = () => ${changed};
      if (done()) return resolve();
      const observer = new MutationObserver(() => { if (done()) { observer.disconnect(); resolve(); } });
      observer.observe(document.querySelector('main'), { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await new Promise((resolve) => requestAnimationFrame(resolve));
    return performance.now() - started;
  })()`);
}

const turns: number[] = [];
for (let i = 0; i < TURNS; i++) {
  const before = await firstRow();
  turns.push(await timedClick('Next', `document.querySelector('tbody tr a')?.getAttribute('href') !== ${JSON.stringify(before)}`));
}
const rowsInPage = await page.locator('tbody tr').count();
started = Date.now();
await page.getByLabel('Status').selectOption('failed');
await until(
  page,
  `[...document.querySelectorAll('tbody .status')].length > 0 && [...document.querySelectorAll('tbody .status')].every((s) => s.textContent === 'failed')`,
);
const filterChange = Date.now() - started;
const apiPage: number[] = [];
for (let i = 0; i < TURNS; i++) apiPage.push(await fetchedInTab(page, ['/v1/webhooks/deliveries?limit=25']));
const jsBytes = readFileSync(path.join(DASHBOARD_DIR, 'assets', 'app.js'));
const cssBytes = readFileSync(path.join(DASHBOARD_DIR, 'assets', 'app.css'));

console.log(
  `delivery log of ${DELIVERIES}: first rows in ${ms(firstList)}; next page p50 ${ms(median(turns))}, p95 ${ms(p95(turns))} over ${TURNS} turns; a status filter ${ms(filterChange)}; the API's own page answer p50 ${ms(median(apiPage))} (ratio ${(median(turns) / median(apiPage)).toFixed(1)})`,
);
console.log(
  `paged, never whole: ${rowsInPage} rows in the page; each list answer ${Math.round(median(listAnswers) / 1024)} KB (${listAnswers.length} answers, largest ${Math.round(Math.max(...listAnswers) / 1024)} KB)`,
);
console.log(
  `JavaScript ${(jsBytes.length / 1024).toFixed(1)} KB (${(gzipSync(jsBytes).length / 1024).toFixed(1)} KB gzipped); stylesheet ${(cssBytes.length / 1024).toFixed(1)} KB`,
);
await browser.close();
await kiln.stop();
process.exit(0);
