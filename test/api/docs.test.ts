import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { contract } from '../support/contract.js';

/** Debian's chromium (installed by scripts/install-system-deps.sh); the browser builds Playwright downloads cannot be fetched here. */
const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';

describe('the API reference at /docs, in a real headless Chromium', () => {
  let kiln: TestKiln;
  let browser: Browser;

  before(async () => {
    kiln = await startTestKiln('embedded');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await kiln?.stop();
  });

  test('renders every route of the OpenAPI document from assets Kiln serves itself', async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    const failed: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(kiln.url) && !request.url().startsWith('data:')) outside.push(request.url());
    });
    page.on('requestfailed', (request) => failed.push(request.url()));
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    const response = await page.goto(`${kiln.url}/docs`);
    assert.equal(response?.status(), 200);
    assert.equal(response?.headers()['x-content-type-options'], 'nosniff');
    await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
    const shown = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((n) => n.getAttribute('data-path') ?? n.textContent?.trim() ?? ''));
    const operations = Object.values(contract.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    const webhooks = Object.keys(contract.webhooks);
    assert.equal(shown.length, operations + webhooks.length, `one row per operation and webhook: ${shown.join(' ')}`);
    for (const path of [...Object.keys(contract.paths), ...webhooks]) assert.ok(shown.includes(path), `${path} is listed`);
    assert.match(await page.title(), /Kiln/);
    assert.deepEqual(outside, [], 'nothing is fetched from outside Kiln (no CDN)');
    assert.deepEqual(failed, []);
    assert.deepEqual(errors, []);
    if (process.env.KILN_DOCS_SCREENSHOT) await page.screenshot({ path: process.env.KILN_DOCS_SCREENSHOT, fullPage: false });
  });
});
