import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest, request, uploadForm } from '../support/http.js';
import { magickFormat } from '../support/magick.js';
import { waitUntil } from '../support/processes.js';
import { startReceiver } from '../support/receiver.js';
import { Webhook } from 'standardwebhooks';

/** Debian's chromium (installed by scripts/install-system-deps.sh); the browser builds Playwright downloads cannot be fetched here. */
const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const PHOTOS = '/usr/share/backgrounds/mate/nature';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const HOSTILE_NAME = '<img src=x onerror=alert(1)>.png';

describe('the dashboard at /app, in a real headless Chromium', () => {
  let kiln: TestKiln;
  let browser: Browser;
  let account: { id: string; key: string };

  before(async () => {
    // Loopback receivers may be reached; a failed delivery is not retried on its own (resend and recover are what is tested).
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      KILN_WEBHOOK_RETRY_SCHEDULE: '',
      // Where the page links each run; nothing here opens it.
      KILN_TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
    });
    account = await createAccount(kiln.url, kiln.adminToken, 'dashboard');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await kiln?.stop();
  });

  /** A fresh tab that records what it asks for, what fails, and any dialog or script error. */
  async function tab(width = 1280): Promise<{ page: Page; urls: string[]; problems: string[]; confirms: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const urls: string[] = [];
    const problems: string[] = [];
    const confirms: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // A confirm() the page asks is answered yes and kept; any other dialog (an alert a payload raised) is a problem.
    page.on('dialog', (dialog) => {
      if (dialog.type() === 'confirm') {
        confirms.push(dialog.message());
        void dialog.accept();
        return;
      }
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      // A 4xx Kiln answered is the browser's log line, not the page's fault; each test asserts what it expects of those.
      if (message.type() === 'error' && !/the server responded with a status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
    });
    return { page, urls, problems, confirms };
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${kiln.url}/app`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  }

  /** axe-core run in the page (evaluated, as the page's policy refuses injected scripts): its serious and critical violations. */
  async function accessibilityViolations(page: Page): Promise<string[]> {
    await page.evaluate(`${AXE};undefined`);
    // Evaluated as text: this file is compiled without the DOM's types.
    const violations = await page.evaluate<Array<{ id: string; impact: string; nodes: number }>>(
      'axe.run().then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))',
    );
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.nodes} nodes)`);
  }

  /** With KILN_DASHBOARD_SCREENSHOTS=<dir>, the page as it stands, for docs/dashboard.md. */
  async function screenshot(page: Page, name: string): Promise<void> {
    const dir = process.env.KILN_DASHBOARD_SCREENSHOTS;
    if (dir) await page.screenshot({ path: path.join(dir, `dashboard-${name}.png`) });
  }

  async function convert(file: Buffer, filename: string, fields: Record<string, string>): Promise<string> {
    const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: uploadForm(file, filename, fields) });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    return accepted.body.id;
  }

  test('served by Kiln under a strict policy: no inline script, no framing, JavaScript of a few tens of KB', async () => {
    const page = await fetch(`${kiln.url}/app/conversions`);
    assert.equal(page.status, 200);
    const policy = page.headers.get('content-security-policy') ?? '';
    assert.match(policy, /script-src 'self'(;|$)/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
    assert.match(policy, /frame-ancestors 'none'/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    const script = await fetch(`${kiln.url}/app/assets/app.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const bytes = (await script.arrayBuffer()).byteLength;
    assert.ok(bytes < 150 * 1024, `the dashboard's JavaScript is ${bytes} bytes`);
    assert.equal((await fetch(`${kiln.url}/app/assets/other.js`)).status, 404);
  });

  test('sign in with an API key kept in the tab, never in a URL; a wrong key says why; sign out', async () => {
    const { page, urls, problems } = await tab();
    await page.goto(`${kiln.url}/app`);
    assert.equal(await page.title(), 'Sign in · Kiln');
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key').fill('kiln_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /invalid_api_key|unauthorized/);

    await signIn(page, account.key);
    assert.equal(await page.evaluate('sessionStorage.getItem("kiln.api_key")'), account.key);
    assert.equal(await page.evaluate('localStorage.length'), 0, 'nothing outlives the tab');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("kiln.api_key")'), null);
    assert.deepEqual(
      urls.filter((url) => url.includes(account.key) || url.includes('kiln_wrong')),
      [],
      'no key in any URL',
    );
    assert.deepEqual(problems, []);
  });

  test('a key revoked while signed in lands on the sign-in page with the reason', async () => {
    const second = await jsonRequest(`${kiln.url}/v1/api-keys`, account.key, 'POST', { name: 'to revoke' });
    assert.equal(second.status, 201);
    const { page } = await tab();
    await signIn(page, second.body.key);
    assert.equal((await jsonRequest(`${kiln.url}/v1/api-keys/${second.body.id}`, account.key, 'DELETE')).status, 204);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('API key').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /revoked|not valid|invalid/i);
  });

  test('conversions: a hostile filename shows as text; a page with the output beside the input, its events in order, a download', async () => {
    const photo = readFileSync(path.join(PHOTOS, 'Aqua.jpg'));
    const receiver = await startReceiver([{ status: 204 }]);
    const id = await convert(photo, HOSTILE_NAME, { output_format: 'png', width: '120', webhook_url: receiver.url });
    await waitUntil(
      async () => (await jsonRequest(`${kiln.url}/v1/conversions/${id}`, account.key, 'GET')).body.status === 'succeeded',
      60_000,
      'the conversion',
    );
    // file.uploaded, conversion.started and conversion.completed, each delivered.
    await receiver.waitForRequests(3);
    await receiver.close();
    const { page, problems } = await tab();
    await signIn(page, account.key);
    await page.getByRole('link', { name: 'Conversions' }).click();
    const link = page.getByRole('link', { name: HOSTILE_NAME });
    await link.waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'the filename is text, never markup');
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'conversions');

    await link.click();
    await page.getByRole('heading', { level: 1, name: HOSTILE_NAME }).waitFor();
    const preview = page.getByRole('img', { name: /The output/ });
    await waitUntil(
      () =>
        preview.evaluate(
          (img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0,
        ),
      10_000,
      'the output preview',
    );
    assert.equal(await preview.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), 120);
    const events = await page.locator('.events li .code').allTextContents();
    assert.deepEqual(events, ['file.uploaded', 'conversion.started', 'conversion.completed']);
    // Its deliveries: the webhook_url's, linked to their attempts.
    const deliveries = page.getByRole('table', { name: "Deliveries of this conversion's events" });
    await deliveries.getByRole('link', { name: 'conversion.completed' }).waitFor();
    assert.match((await deliveries.getByRole('row', { name: /conversion\.completed/ }).textContent()) ?? '', new RegExp(`${receiver.url}succeeded1$`));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /^Download / }).click()]);
    const saved = await download.path();
    assert.equal(await magickFormat(readFileSync(saved), '%m %w'), 'PNG 120');
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'conversion');

    assert.equal(
      await page.getByRole('link', { name: 'Its run in the Temporal Web UI' }).getAttribute('href'),
      `http://127.0.0.1:8233/namespaces/default/workflows/conversion-${id}`,
    );

    // The filters are in the address, and the server pages the list.
    await page.goto(`${kiln.url}/app/conversions?status=failed`);
    await page.getByText('No conversions match these filters.').waitFor();
    assert.equal(await page.getByLabel('Status').inputValue(), 'failed');
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Format').selectOption('png');
    await page.waitForURL(/\/app\/conversions\?output_format=png$/);
    await page.getByRole('link', { name: HOSTILE_NAME }).waitFor();
    await page.getByLabel('Format').selectOption('gif');
    await page.getByText('No conversions match these filters.').waitFor();
    await page.getByLabel('Format').selectOption('');
    // A time range in the reader's local time: from an hour ahead, nothing; from an hour back, the conversion.
    const local = (offsetMs: number) => {
      const at = new Date(Date.now() + offsetMs);
      return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    };
    await page.getByLabel('Created from').fill(local(3600_000));
    await page.getByText('No conversions match these filters.').waitFor();
    await page.getByLabel('Created from').fill(local(-3600_000));
    await page.getByRole('link', { name: HOSTILE_NAME }).waitFor();
    assert.deepEqual(await accessibilityViolations(page), []);
    assert.deepEqual(problems, []);
  });

  test('convert two photos through the page: options from the API schema, a refusal shown, every output downloaded', async () => {
    const { page, problems } = await tab();
    await signIn(page, account.key);
    await page.getByRole('link', { name: 'Convert' }).click();
    await page.getByRole('heading', { level: 1, name: 'Convert' }).waitFor();
    // The form is the document's: an option the page never names by hand is there, with its limits.
    await page.getByText('More options').click();
    assert.equal(await page.getByLabel('Watermark opacity').getAttribute('max'), '1');
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'convert');

    await page.getByLabel('Images (drop them here, or choose)').setInputFiles([path.join(PHOTOS, 'Garden.jpg'), path.join(PHOTOS, 'GreenMeadow.jpg')]);
    await page.getByLabel('Output format').selectOption('webp');
    await page.getByLabel('Width', { exact: true }).fill('300');
    // Kiln refuses a malformed crop: its problem shows by the form, and nothing is made.
    await page.getByLabel('Crop', { exact: true }).fill('a,b,c');
    await page.getByRole('button', { name: 'Convert' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /invalid_options/);
    await page.getByLabel('Crop', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Convert' }).click();

    await page.getByRole('heading', { level: 1, name: /^Job job_/ }).waitFor();
    const links = page.getByRole('link', { name: /^Download .+\.webp$/ });
    await waitUntil(async () => (await links.count()) === 2, 120_000, 'both outputs on the job page', 100);
    for (const link of await links.all()) {
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      assert.equal(await magickFormat(readFileSync(await download.path()), '%m %w'), 'WEBP 300');
    }
    assert.deepEqual(problems, []);
  });

  test("a job's page follows its progress live, row by row, then offers its archive", async () => {
    const form = new FormData();
    for (const name of ['Blinds.jpg', 'Dune.jpg', 'Storm.jpg', 'LadyBird.jpg']) form.append('file', new Blob([readFileSync(path.join(PHOTOS, name))]), name);
    form.set('output_format', 'avif');
    form.set('width', '1200');
    form.set('concurrency', '1');
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    const { page, problems } = await tab();
    await signIn(page, account.key);
    await page.goto(`${kiln.url}/app/jobs/${job.body.id}`);
    const progress = page.locator('progress#job-progress');
    await progress.waitFor();
    const seen = new Set<number>();
    await waitUntil(
      async () => {
        seen.add(Number(await progress.getAttribute('value')));
        return (await page.getByRole('link', { name: 'Download the archive' }).count()) > 0;
      },
      120_000,
      'the job to end on its page',
      50,
    );
    assert.ok(
      [...seen].some((n) => n > 0 && n < 4),
      `the page showed it part way: ${[...seen].join(', ')}`,
    );
    assert.equal(Number(await progress.getAttribute('value')), 4);
    assert.equal(await page.locator('tbody .status-succeeded').count(), 4, 'every row says succeeded');
    const href = await page.getByRole('link', { name: 'Download the archive' }).getAttribute('href');
    const archive = await fetch(new URL(href!, kiln.url));
    assert.equal(archive.status, 200);
    assert.equal(archive.headers.get('content-type'), 'application/zip');
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'job');
    assert.deepEqual(problems, []);
  });

  test('settings: a key created is shown once and works; revoked, it no longer does; usage and limits', async () => {
    const { page, problems, confirms } = await tab();
    await signIn(page, account.key);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel("New key's name").fill('deploy <b>bot</b>');
    await page.getByRole('button', { name: 'Create' }).click();
    const shown = (await page.locator('.notice .secret').textContent()) ?? '';
    assert.match(shown, /^kiln_/);
    assert.equal((await jsonRequest(`${kiln.url}/v1/usage`, shown, 'GET')).status, 200, 'the key shown works');
    assert.equal(await page.locator('b').count(), 0, 'its name is text');
    const row = page.getByRole('row', { name: /deploy <b>bot<\/b>/ });
    await row.waitFor();
    assert.ok((await page.getByRole('cell', { name: 'conversions active' }).count()) > 0, 'the quotas are listed');
    assert.deepEqual(await accessibilityViolations(page), []);

    await page.reload();
    await row.waitFor();
    assert.equal(await page.locator('.notice').count(), 0, 'shown once: not after a reload');
    await page.getByRole('button', { name: 'Revoke deploy <b>bot</b>' }).click();
    await waitUntil(async () => (await row.count()) === 0, 10_000, 'the revoked key to leave the list');
    assert.match(confirms[0] ?? '', /^Revoke the key deploy <b>bot<\/b>/);
    assert.equal((await jsonRequest(`${kiln.url}/v1/usage`, shown, 'GET')).status, 401, 'revoked');
    assert.deepEqual(problems, []);
  });

  test('webhooks: add an endpoint, test-send, a failed delivery (its HTML answer as text), resend, recover after a dry-run count, a template previewed, rotate', async () => {
    let down = false;
    const receiver = await startReceiver([], {
      decide: () => (down ? { status: 503, headers: { 'content-type': 'text/html' }, body: '<img src=x onerror=alert(1)>down for now' } : { status: 204 }),
    });
    try {
      const { page, problems, confirms } = await tab();
      await signIn(page, account.key);
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByRole('button', { name: 'Add an endpoint' }).click();
      await page.getByLabel('URL').fill(receiver.url);
      await page.getByLabel('webhook.test').check();
      await page.getByLabel('Custom headers').fill('X-Team: media\nAuthorization: Bearer receiver-token');
      await page.getByLabel("Also sign in a header of the receiver's own shape").check();
      await page.getByLabel('Header name').fill('X-Shop-Signature');
      await page.getByLabel('Written as').selectOption('base64');
      await page.getByLabel('Prefix (e.g. sha256=)').fill('sha256=');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('heading', { level: 1, name: receiver.url }).waitFor();
      assert.deepEqual(await accessibilityViolations(page), []);

      await page.getByRole('button', { name: 'Reveal the secret' }).click();
      const secret = (await page.locator('code.secret').textContent()) ?? '';
      await page.getByRole('button', { name: 'Send a test event' }).click();
      const [sent] = await receiver.waitForRequests(1);
      assert.equal((new Webhook(secret).verify(sent!.body, sent!.headers as Record<string, string>) as { type: string }).type, 'webhook.test');
      // The form's custom headers and extra signature header, as the receiver got them.
      assert.equal(sent!.headers['x-team'], 'media');
      assert.equal(sent!.headers.authorization, 'Bearer receiver-token');
      assert.equal(sent!.headers['x-shop-signature'], `sha256=${createHmac('sha256', secret).update(sent!.body).digest('base64')}`);
      await waitUntil(
        async () => (await page.locator('tbody .status-succeeded').count()) === 1 || (await page.reload(), false),
        30_000,
        'the delivery listed as succeeded',
        500,
      );

      // The receiver goes down: a test event fails at once, and its page shows the HTML it answered as text.
      down = true;
      await page.getByRole('button', { name: 'Send a test event' }).click();
      await waitUntil(async () => (await page.locator('tbody .status-failed').count()) === 1 || (await page.reload(), false), 30_000, 'a failed delivery', 500);
      await page
        .locator('tbody tr', { has: page.locator('.status-failed') })
        .getByRole('link')
        .click();
      await page.getByRole('heading', { level: 1, name: /^webhook\.test to / }).waitFor();
      assert.equal(await page.getByLabel('Response body of attempt 1').textContent(), '<img src=x onerror=alert(1)>down for now');
      // Beside it, the request as it was sent: the receiver's own copy matches it.
      const failedSend = receiver.requests.at(-1)!;
      assert.equal(await page.getByLabel('Request body of attempt 1').textContent(), failedSend.body);
      const shownHeaders = (await page.getByLabel('Request headers of attempt 1').textContent()) ?? '';
      for (const name of ['webhook-signature', 'x-shop-signature', 'x-team']) {
        assert.ok(shownHeaders.includes(`${name}: ${String(failedSend.headers[name])}`), `${name} in\n${shownHeaders}`);
      }
      assert.equal(await page.locator('img[src="x"]').count(), 0, 'a receiver’s answer is text, never markup');
      assert.deepEqual(await accessibilityViolations(page), []);
      await screenshot(page, 'delivery');

      // Back up: resend from the delivery's page.
      down = false;
      await page.getByRole('button', { name: 'Resend now' }).click();
      await page.locator('h1 + p .status-succeeded').waitFor({ timeout: 30_000 });
      assert.deepEqual(await page.locator('.attempts h3').allTextContents(), ['Attempt 1 (scheduled): 503', 'Attempt 2 (manual): 204']);

      // Another missed while down; recover counts it first, then sends it.
      down = true;
      await page.getByRole('link', { name: 'its endpoint' }).click();
      await page.getByRole('button', { name: 'Send a test event' }).click();
      await waitUntil(
        async () => (await page.locator('tbody .status-failed').count()) === 1 || (await page.reload(), false),
        30_000,
        'the second failure',
        500,
      );
      down = false;
      const before = receiver.requests.length;
      await page.getByRole('button', { name: 'Count them' }).click();
      await page.getByText('1 deliveries would be sent again.').waitFor();
      assert.equal(receiver.requests.length, before, 'the count sent nothing');
      await page.getByRole('button', { name: 'Send them again' }).click();
      await receiver.waitForRequests(before + 1);

      // The payload template, previewed by Kiln as it is typed, then saved and sent.
      const template = page.getByLabel("JSONata over the event (empty: Kiln's own body)");
      await template.fill('{');
      await page.getByRole('alert').waitFor();
      assert.match((await page.getByRole('alert').textContent()) ?? '', /^template_failed: .*Expected/);
      await template.fill('{"kind": type, "event": id}');
      await page.getByLabel('Body it would send').filter({ hasText: '"kind":"webhook.test"' }).waitFor();
      assert.match((await page.getByLabel('Headers it would send').textContent()) ?? '', /^webhook-id: evt_/m);
      // Or over a stored event: the latest of the type.
      await page.getByLabel('Use the latest stored event of that type, not a sample').check();
      const latest = (await jsonRequest(`${kiln.url}/v1/events?type=webhook.test&limit=1`, account.key, 'GET')).body.data[0].id;
      await page
        .getByLabel('Body it would send')
        .filter({ hasText: `"event":"${latest}"` })
        .waitFor();
      await page.getByText(`Rendered from the stored event ${latest}.`).waitFor();
      await page.getByRole('button', { name: 'Save the template' }).click();
      await page.getByText('Saved.', { exact: true }).waitFor();
      const beforeTemplate = receiver.requests.length;
      await page.getByRole('button', { name: 'Send a test event' }).click();
      const templated = (await receiver.waitForRequests(beforeTemplate + 1))[beforeTemplate]!;
      assert.deepEqual(Object.keys(JSON.parse(templated.body)), ['kind', 'event']);
      assert.deepEqual(await accessibilityViolations(page), []);
      await screenshot(page, 'endpoint');

      await page.getByRole('button', { name: 'Rotate the secret' }).click();
      await page.getByText(/^Rotated: the previous secret signs too until/).waitFor();
      const rotated = (await page.locator('code.secret').textContent()) ?? '';
      assert.match(rotated, /^whsec_/);
      assert.notEqual(rotated, secret);
      assert.match(confirms.at(-1) ?? '', /^Rotate the signing secret\?/);
      assert.deepEqual(problems, []);
    } finally {
      await receiver.close();
    }
  });

  test('the delivery log filters by endpoint, status, event type and time; the event catalog shows each type with its schema and an example', async () => {
    const receiver = await startReceiver([{ status: 204 }]);
    try {
      const endpoint = await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, account.key, 'POST', { url: receiver.url, event_types: ['webhook.test'] });
      assert.equal(endpoint.status, 201);
      const sent = await jsonRequest(`${kiln.url}/v1/webhooks/endpoints/${endpoint.body.id}/test`, account.key, 'POST');
      await waitUntil(
        async () => (await jsonRequest(`${kiln.url}/v1/webhooks/deliveries/${sent.body.delivery_id}`, account.key, 'GET')).body.status === 'succeeded',
        30_000,
        'the test delivery',
      );
      const { page, problems } = await tab();
      await signIn(page, account.key);
      await page.goto(`${kiln.url}/app/webhooks/deliveries`);
      await page.getByLabel('Endpoint').selectOption({ label: receiver.url });
      await page.getByLabel('Status').selectOption('succeeded');
      await page.getByLabel('Event type').selectOption('webhook.test');
      await page.waitForURL(new RegExp(`endpoint_id=${endpoint.body.id}&status=succeeded&event_type=webhook.test$`));
      await waitUntil(async () => (await page.locator(`a[href="/app/webhooks/deliveries/${sent.body.delivery_id}"]`).count()) === 1, 10_000, 'the delivery');
      assert.equal(await page.locator('tbody tr').count(), 1, 'only that endpoint’s');
      await page.getByLabel('Status').selectOption('failed');
      await page.getByText('No deliveries match these filters.').waitFor();
      assert.deepEqual(await accessibilityViolations(page), []);
      await screenshot(page, 'deliveries');

      await page.getByRole('link', { name: 'The event catalog' }).click();
      await page.getByRole('heading', { level: 1, name: 'Event catalog' }).waitFor();
      const completed = page.getByRole('region', { name: 'conversion.completed' });
      await completed.getByText('Example body').click();
      const example = JSON.parse((await completed.getByLabel('Example of conversion.completed').textContent()) ?? '{}');
      assert.equal(example.type, 'conversion.completed');
      assert.match(example.data.download_url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/downloads\//);
      await completed.getByText('Schema of its data').click();
      assert.ok(JSON.parse((await completed.getByLabel('Schema of conversion.completed').textContent()) ?? '{}').required.includes('download_url'));
      const types = (await jsonRequest(`${kiln.url}/v1/webhooks/event-types`, account.key, 'GET')).body.data.length;
      assert.equal(await page.locator('section.event-type').count(), types);
      assert.deepEqual(await accessibilityViolations(page), []);
      await screenshot(page, 'event-catalog');
      assert.deepEqual(problems, []);
    } finally {
      await receiver.close();
    }
  });

  test('a sign-in link opens the dashboard once, leaves no token in the address, and signing out ends its key', async () => {
    const made = await jsonRequest(`${kiln.url}/v1/sign-in-links`, account.key, 'POST');
    assert.equal(made.status, 201);
    const { page, urls, problems } = await tab();
    await page.goto(made.body.url);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token left the address');
    const sessionKey = await page.evaluate<string>('sessionStorage.getItem("kiln.api_key")');
    assert.match(sessionKey, /^kiln_/);
    assert.notEqual(sessionKey, account.key);
    assert.equal((await jsonRequest(`${kiln.url}/v1/usage`, sessionKey, 'GET')).status, 200);
    const token = new URL(made.body.url).hash.slice('#token='.length);
    assert.deepEqual(
      urls.filter((url) => url.includes(token) || url.includes(sessionKey)),
      [],
      'neither the token nor the key in any URL the tab asked for',
    );

    // Opened again, elsewhere: it worked once, and the page says so.
    const other = await tab();
    await other.page.goto(made.body.url);
    await other.page.getByRole('alert').waitFor();
    assert.match((await other.page.getByRole('alert').textContent()) ?? '', /^sign_in_link_used: /);
    assert.equal(await other.page.evaluate('sessionStorage.getItem("kiln.api_key")'), null);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    await waitUntil(async () => (await jsonRequest(`${kiln.url}/v1/usage`, sessionKey, 'GET')).status === 401, 10_000, 'the session key revoked');
    assert.deepEqual(problems, []);
  });

  test('the operator view: the admin token, the deployment’s health and queues, accounts made, limited, keyed and linked', async () => {
    const { page, problems } = await tab();
    await page.goto(`${kiln.url}/app/operator`);
    assert.equal(await page.title(), 'Sign in · Kiln operator');
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.getByLabel('Admin token').fill(account.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /invalid_admin_token/, 'an account key is not the admin token');
    await page.getByLabel('Admin token').fill(kiln.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Status' }).waitFor();
    assert.match((await page.locator('.health').textContent()) ?? '', /Postgres\s*answers.*Temporal\s*answers/s);
    const convertRow = page.getByRole('row', { name: /kiln-convert \(activities\)/ });
    await convertRow.waitFor();
    assert.notEqual(await convertRow.getByRole('cell').nth(1).textContent(), 'none', 'a worker polls the convert queue');
    assert.equal(
      await page.getByRole('link', { name: 'Temporal Web UI: every run' }).getAttribute('href'),
      'http://127.0.0.1:8233/namespaces/default/workflows',
    );
    await page.getByRole('button', { name: 'Show them' }).click();
    assert.match((await page.getByLabel('Metrics').textContent()) ?? '', /^# HELP /m);
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'operator-status');

    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.getByLabel("New account's name").fill('made <i>by</i> the operator');
    await page.getByRole('button', { name: 'Create' }).click();
    const firstKey = (await page.locator('.notice .secret').textContent()) ?? '';
    assert.equal((await jsonRequest(`${kiln.url}/v1/usage`, firstKey, 'GET')).status, 200, 'its first key works');
    assert.equal(await page.locator('main i').count(), 0, 'its name is text');
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.locator('.notice').getByRole('link', { name: 'made <i>by</i> the operator' }).click();
    await page.getByRole('heading', { level: 1, name: 'made <i>by</i> the operator' }).waitFor();
    const accountId = ((await page.locator('main > p.code').first().textContent()) ?? '').trim();

    await page.getByLabel('endpoints', { exact: true }).fill('2');
    await page.getByLabel('conversions per day').fill('none');
    await page.getByRole('button', { name: 'Save the limits' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor();
    const limits = (await jsonRequest(`${kiln.url}/v1/admin/accounts/${accountId}/limits`, kiln.adminToken, 'GET')).body;
    assert.deepEqual(limits.own, { endpoints: 2, conversions_per_day: null });

    await page.getByLabel("New key's name").fill('given by ops');
    await page.getByRole('button', { name: 'Create' }).click();
    const given = (await page.locator('.notice .secret').textContent()) ?? '';
    assert.equal((await jsonRequest(`${kiln.url}/v1/usage`, given, 'GET')).status, 200);
    await page.getByRole('button', { name: 'Revoke given by ops' }).click();
    await waitUntil(async () => (await jsonRequest(`${kiln.url}/v1/usage`, given, 'GET')).status === 401, 10_000, 'the key revoked');

    await page.getByRole('button', { name: 'Make a sign-in link' }).click();
    const link = (await page.locator('#link-heading ~ .notice .secret').textContent()) ?? '';
    assert.match(link, /\/app\/sign-in#token=kiln_signin_/);
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'operator-account');
    // The link signs a browser in as that account.
    const visitor = await tab();
    await visitor.page.goto(link);
    await visitor.page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const visitorKey = await visitor.page.evaluate<string>('sessionStorage.getItem("kiln.api_key")');
    const keys = (await jsonRequest(`${kiln.url}/v1/admin/accounts/${accountId}/api-keys`, kiln.adminToken, 'GET')).body.data;
    assert.ok(keys.some((k: { prefix: string; expires_at: string | null }) => visitorKey.startsWith(k.prefix) && k.expires_at !== null));
    assert.deepEqual(problems, []);
  });

  test('presets saved from the Convert page and watermark assets uploaded, listed and deleted in the settings', async () => {
    const { page, problems, confirms } = await tab();
    await signIn(page, account.key);
    await page.getByRole('link', { name: 'Convert' }).click();
    await page.getByLabel('Output format').selectOption('webp');
    await page.getByLabel('Width', { exact: true }).fill('64');
    await page.getByLabel('Save these options as the preset').fill('tiny');
    await page.getByRole('button', { name: 'Save preset' }).click();
    await page.getByText('Saved the preset tiny.').waitFor();
    assert.deepEqual((await jsonRequest(`${kiln.url}/v1/presets/tiny`, account.key, 'GET')).body.options, { output_format: 'webp', width: '64' });

    await page.getByRole('link', { name: 'Settings' }).click();
    const presetRow = page.getByRole('row', { name: /^tiny/ });
    await presetRow.waitFor();
    const shownOptions = (await presetRow.getByRole('cell').nth(1).textContent()) ?? '';
    assert.deepEqual(shownOptions.split(' ').sort(), ['output_format=webp', 'width=64']);
    const logo = path.join(PHOTOS, 'FreshFlower.jpg');
    await page.getByLabel('Upload an image to lay over outputs').setInputFiles(logo);
    const assetRow = page.getByRole('row', { name: /^FreshFlower\.jpg ast_/ });
    await assetRow.waitFor();
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'settings');

    await page.getByRole('button', { name: 'Delete the preset tiny' }).click();
    await page.getByRole('button', { name: 'Delete the asset FreshFlower.jpg' }).click();
    await waitUntil(async () => (await presetRow.count()) + (await assetRow.count()) === 0, 10_000, 'both rows to go');
    assert.deepEqual(confirms.slice(-2), ['Delete the preset tiny?', 'Delete the asset FreshFlower.jpg?']);
    assert.equal((await jsonRequest(`${kiln.url}/v1/presets/tiny`, account.key, 'GET')).status, 404);
    assert.deepEqual(problems, []);
  });

  test("the overview charts the last day's work as the API counts it, and links the endpoints failing now", async () => {
    const counted = (await jsonRequest(`${kiln.url}/v1/overview?hours=24`, account.key, 'GET')).body;
    const { page, problems } = await tab();
    await signIn(page, account.key);
    const chart = (title: string) => page.getByRole('region', { name: title });
    const rowsOf = async (title: string) =>
      Object.fromEntries(
        await Promise.all(
          (await chart(title).getByRole('listitem').all()).map(async (item) => [
            await item.locator('.chart-label').textContent(),
            Number(await item.locator('.chart-count').textContent()),
          ]),
        ),
      );
    await chart('Conversions by status').waitFor();
    assert.deepEqual(await rowsOf('Conversions by status'), counted.conversions.by_status);
    assert.deepEqual(await rowsOf('Conversions by format'), counted.conversions.by_format);
    assert.deepEqual(await rowsOf('Deliveries by outcome'), counted.deliveries.by_status);
    assert.match((await chart('From upload to completion').textContent()) ?? '', new RegExp(`Over${counted.conversions.completion_ms.count} succeeded`));
    // The bars are drawn to scale: the largest fills its track.
    const widths = await chart('Conversions by status')
      .locator('.chart-fill')
      .evaluateAll((fills) => fills.map((f) => (f as unknown as { style: { width: string } }).style.width));
    assert.ok(widths.includes('100%'), widths.join(' '));
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, 'overview');
    await page.getByRole('combobox', { name: 'Work created in' }).selectOption('1');
    await page.waitForURL(/\/app\/overview\?hours=1$/);
    await chart('Conversions by status').waitFor();
    assert.deepEqual(problems, []);
  });

  test('usable on a 375 px wide screen and by keyboard', async () => {
    const { page } = await tab(375);
    await signIn(page, account.key);
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 375'), 'no sideways scrolling');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Overview');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Conversions');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    assert.equal(await page.title(), 'Jobs · Kiln');
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 375'), 'no sideways scrolling');
    assert.deepEqual(await accessibilityViolations(page), []);
    // The widest pages too: a delivery's request beside its response, the catalog's schemas, the operator's tables.
    const delivery = (await jsonRequest(`${kiln.url}/v1/webhooks/deliveries?limit=1`, account.key, 'GET')).body.data[0];
    await page.evaluate(`sessionStorage.setItem('kiln.admin_token', ${JSON.stringify(kiln.adminToken)})`);
    for (const [where, heading] of [
      [`/app/webhooks/deliveries/${delivery.id}`, 'Attempts'],
      ['/app/webhooks/event-types', 'webhook.test'],
      ['/app/settings', 'API keys'],
      ['/app/operator', 'Workers and queues'],
      ['/app/operator/accounts', 'Accounts'],
    ]) {
      await page.goto(`${kiln.url}${where}`);
      await page.getByRole('heading', { name: heading }).first().waitFor();
      assert.ok(await page.evaluate('document.documentElement.scrollWidth <= 375'), `no sideways scrolling on ${where}`);
    }
  });
});
