import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { startReceiver, verifyDelivery, verifySignatures, type ReceivedRequest, type Receiver } from '../support/receiver.js';
import { identify, makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { startPythonReceiver, type PythonReceiver } from '../support/python-receivers.js';
import { tempDir } from '../support/temp.js';
import { projectRoot } from '../../src/paths.js';

/**
 * Receivers written for other services, kept as they are: KoalaPic's Flask receiver and
 * ChangeThisFile's FastAPI receiver exactly as their guides publish them
 * (test/receivers/*.py, run under their own servers), and a verifier of Convertly's
 * `t=…,v1=…` header written the way such verifiers are. Kiln is fitted to each through its
 * API alone: an extra signature header, the receiver's own secret, a payload template, on an
 * endpoint or on the account's webhook_url settings. A Standard Webhooks receiver keeps
 * working beside them. Real Temporal dev server, embedded Postgres, loopback receivers.
 */

const OVERLAP_SECONDS = 24;

/** KoalaPic's receiver reads `event` and `data`. */
const KOALAPIC_TEMPLATE = '{"event": type, "data": data}';

/** ChangeThisFile's receiver reads a flat job_id, state (done/failed), download_url, metadata and error. */
const CTF_TEMPLATE = `(
  $final := type in ["conversion.completed", "job.completed"] ? "done"
    : type in ["conversion.failed", "conversion.cancelled", "job.failed", "job.cancelled"] ? "failed"
    : data.status;
  {
    "job_id": $exists(data.job_id) ? data.job_id : data.conversion_id,
    "event": type,
    "state": $final,
    "download_url": $exists(data.download_url) ? data.download_url : data.archive_url,
    "metadata": data.metadata ? data.metadata : {},
    "error": data.error
  }
)`;

/** Convertly's envelope: id, type, created (unix seconds), data. */
const CONVERTLY_TEMPLATE = '{"id": id, "type": type, "created": $floor($toMillis(timestamp) / 1000), "data": data}';

/**
 * A Convertly-style verifier: `convertly-signature: t=<ts>,v1=<hex>[,v1=…]`, HMAC-SHA256 of
 * `<ts>.<body>` keyed with the secret string, accepted when any v1 matches and t is recent.
 */
function verifyConvertly(received: ReceivedRequest, secret: string): boolean {
  const header = String(received.headers['convertly-signature'] ?? '');
  const parts = header.split(',').map((part) => part.split('=') as [string, string]);
  const t = parts.find(([name]) => name === 't')?.[1];
  if (!t || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  if (received.headers['convertly-timestamp'] !== t) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${received.body}`).digest();
  return parts.some(([name, value]) => name === 'v1' && value.length === 64 && timingSafeEqual(Buffer.from(value, 'hex'), expected));
}

describe('receivers written for other services, unchanged', () => {
  let kiln: TestKiln;
  let account: { id: string; key: string; webhookSecret: string };
  const work = tempDir('receivers');
  const pythons: PythonReceiver[] = [];
  const sinks: Receiver[] = [];
  let koalapic: PythonReceiver;
  let ctf: PythonReceiver;
  let convertly: Receiver;
  let standard: Receiver;
  const convertlySecret = `cvt_${randomBytes(24).toString('hex')}`;
  const ctfSecret = `ctf_secret_${randomBytes(20).toString('hex')}`;
  const endpoints: Record<'koalapic' | 'convertly' | 'standard', any> = {} as never;

  const api = (urlPath: string, method = 'GET', body?: unknown) => jsonRequest(`${kiln.url}${urlPath}`, account.key, method, body);

  async function python(server: 'flask' | 'uvicorn', app: string, env: Record<string, string> = {}, cwd = work.path): Promise<PythonReceiver> {
    const started = await startPythonReceiver(server, app, { cwd, env });
    pythons.push(started);
    return started;
  }

  async function sink(): Promise<Receiver> {
    const started = await startReceiver([{ status: 200 }]);
    sinks.push(started);
    return started;
  }

  async function listAll(urlPath: string): Promise<any[]> {
    const rows: any[] = [];
    let cursor: string | null = null;
    do {
      const separator = urlPath.includes('?') ? '&' : '?';
      const page = await api(`${urlPath}${separator}limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      rows.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    return rows;
  }

  /** Waits until no delivery of the account is pending, then answers them all. */
  async function settledDeliveries(): Promise<any[]> {
    await waitUntil(async () => (await listAll('/v1/webhooks/deliveries?status=pending')).length === 0, 60_000, 'every delivery to end', 250);
    return listAll('/v1/webhooks/deliveries');
  }

  function failuresOf(rows: any[]): string {
    return JSON.stringify(rows.filter((row) => row.status !== 'succeeded').map((row) => ({ type: row.event_type, url: row.url, status: row.status })));
  }

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      KILN_WEBHOOK_RETRY_SCHEDULE: '1s,1s',
      KILN_WEBHOOK_TIMEOUT_SECONDS: '10',
      KILN_WEBHOOK_SECRET_OVERLAP: `${OVERLAP_SECONDS}s`,
    });
    account = await createAccount(kiln.url, kiln.adminToken, 'migrating');
    mkdirSync(path.join(work.path, 'outputs'));
    [koalapic, ctf, convertly, standard] = await Promise.all([
      python('flask', 'koalapic_receiver'),
      python('uvicorn', 'ctf_receiver:app', { CTF_WEBHOOK_SECRET: ctfSecret }),
      sink(),
      sink(),
    ]);

    // KoalaPic: a dashboard endpoint; its receiver's secret is the one in its code.
    const created = await api('/v1/webhooks/endpoints', 'POST', {
      url: `${koalapic.url}/webhooks/koalapic`,
      secret: 'whsec_your_webhook_secret',
      signature: { header: 'X-KoalaPic-Signature' },
      template: KOALAPIC_TEMPLATE,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.signature, {
      header: 'x-koalapic-signature',
      algorithm: 'sha256',
      signed_content: 'body',
      encoding: 'hex',
      prefix: '',
      form: 'plain',
      timestamp_header: null,
    });
    endpoints.koalapic = created.body;

    const convertlyEndpoint = await api('/v1/webhooks/endpoints', 'POST', {
      url: convertly.url,
      secret: convertlySecret,
      signature: { header: 'convertly-signature', form: 'timestamped', timestamp_header: 'convertly-timestamp' },
      template: CONVERTLY_TEMPLATE,
    });
    assert.equal(convertlyEndpoint.status, 201, JSON.stringify(convertlyEndpoint.body));
    assert.equal(convertlyEndpoint.body.signature.signed_content, 'timestamp.body');
    endpoints.convertly = convertlyEndpoint.body;

    const standardEndpoint = await api('/v1/webhooks/endpoints', 'POST', { url: standard.url });
    assert.equal(standardEndpoint.status, 201);
    endpoints.standard = standardEndpoint.body;

    // ChangeThisFile: a webhook_url per job, so the account's webhook_url settings and secret fit its receiver.
    const settings = await api('/v1/webhooks/settings', 'PATCH', { signature: { header: 'X-CTF-Signature', prefix: 'sha256=' }, template: CTF_TEMPLATE });
    assert.equal(settings.status, 200, JSON.stringify(settings.body));
    // Nothing relies on the account's own secret yet: the receiver's replaces it at once, with no overlap.
    const brought = await api('/v1/webhooks/secret/rotate', 'POST', { secret: ctfSecret, overlap_seconds: 0 });
    assert.equal(brought.status, 200, JSON.stringify(brought.body));
    assert.equal(brought.body.previous_secret_expires_at, null);
  });

  after(async () => {
    await Promise.all([...pythons.map((p) => p.stop()), ...sinks.map((s) => s.close())]);
    await kiln?.stop();
    work.remove();
  });

  async function convert(file: Buffer, metadata: Record<string, unknown>): Promise<any> {
    const form = uploadForm(file, 'photo.jpg', {
      output_format: 'webp',
      width: '320',
      webhook_url: `${ctf.url}/webhooks/ctf`,
      webhook_metadata: JSON.stringify(metadata),
    });
    const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: form });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    return waitForConversion(kiln.url, account.key, accepted.body.id);
  }

  test('every event of a conversion that succeeds, one that fails and a batch job is accepted by each receiver, and each handler runs cleanly', async () => {
    const photo = await makeImage(1200, 800);
    const succeeded = await convert(photo, { user_id: 'u_1', upload_id: 'ul_ok' });
    assert.equal(succeeded.status, 'succeeded');
    // A JPEG cut short: its header reads as an image, its pixels do not.
    const failed = await convert(photo.subarray(0, 600), { user_id: 'u_1', upload_id: 'ul_bad' });
    assert.equal(failed.status, 'failed');

    const form = new FormData();
    form.set('output_format', 'png');
    form.set('width', '200');
    form.set('webhook_url', `${ctf.url}/webhooks/ctf`);
    form.set('webhook_metadata', JSON.stringify({ user_id: 'u_2', upload_id: 'ul_job' }));
    for (const name of ['a.jpg', 'b.jpg']) form.append('file', new Blob([await makeImage(640, 480)]), name);
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    await waitUntil(async () => (await api(`/v1/jobs/${job.body.id}`)).body.status === 'succeeded', 60_000, 'the job to succeed');

    const events = (await listAll('/v1/events')).filter((event) => event.type !== 'webhook.test');
    const types = new Set(events.map((event) => event.type));
    for (const type of ['file.uploaded', 'conversion.started', 'conversion.completed', 'conversion.failed', 'job.started', 'job.progress', 'job.completed']) {
      assert.ok(types.has(type), `a ${type} event happened`);
    }
    const deliveries = await settledDeliveries();
    // Each event went to the three endpoints and to its webhook_url (every one of them had one), and every one was accepted.
    assert.equal(deliveries.length, events.length * 4, 'one delivery per event and target');
    assert.equal(failuresOf(deliveries), '[]', 'every delivery succeeded');
    for (const [name, endpoint] of Object.entries(endpoints)) {
      assert.equal(deliveries.filter((d) => d.endpoint_id === endpoint.id).length, events.length, `${name} got every event`);
    }

    // KoalaPic's handler ran both of its branches and nothing raised.
    assert.match(koalapic.output(), new RegExp(`Conversion done! Download: ${kiln.url}/v1/downloads/${succeeded.id}`));
    assert.match(koalapic.output(), /Conversion failed: \{'code': '[a-z_]+', 'message': /);
    assert.doesNotMatch(koalapic.output(), /Traceback|Error/);

    // ChangeThisFile's background task downloaded the output and the job's archive, and reported the failure.
    await waitUntil(() => /Job job_\w+ done for user u_2/.test(ctf.output()), 30_000, "the job's archive downloaded by the CTF handler");
    const out = ctf.output();
    assert.match(out, new RegExp(`Job ${succeeded.id} done for user u_1, \\d+ bytes`));
    assert.match(out, new RegExp(`Job ${failed.id} failed: \\{'code': `));
    assert.doesNotMatch(out, /Traceback|Exception in ASGI|Error/);
    assert.deepEqual(readdirSync(path.join(work.path, 'outputs')).sort(), ['ul_job.mp4', 'ul_ok.mp4']);
    const saved = await identify(readFileSync(path.join(work.path, 'outputs', 'ul_ok.mp4')));
    assert.equal(saved.format, 'webp');

    // The Convertly-style verifier accepts each, in Convertly's envelope; the Standard Webhooks receiver as always.
    assert.equal(convertly.requests.length, events.length);
    for (const received of convertly.requests) {
      assert.ok(verifyConvertly(received, convertlySecret), 'convertly-signature verifies');
      const body = JSON.parse(received.body);
      assert.deepEqual(Object.keys(body), ['id', 'type', 'created', 'data']);
      assert.equal(typeof body.created, 'number');
    }
    assert.equal(standard.requests.length, events.length);
    for (const received of standard.requests) verifyDelivery(received, endpoints.standard.secret);
  });

  test('through a rotation every receiver keeps accepting for the whole overlap, and takes the new secret after it', async () => {
    const koalapicNext = `whsec_koalapic_next_${randomBytes(8).toString('hex')}`;
    const ctfNext = `ctf_next_${randomBytes(20).toString('hex')}`;
    const rotations = await Promise.all([
      api(`/v1/webhooks/endpoints/${endpoints.koalapic.id}/rotate-secret`, 'POST', { secret: koalapicNext }),
      api(`/v1/webhooks/endpoints/${endpoints.convertly.id}/rotate-secret`, 'POST'),
      api(`/v1/webhooks/endpoints/${endpoints.standard.id}/rotate-secret`, 'POST'),
      api('/v1/webhooks/secret/rotate', 'POST', { secret: ctfNext }),
    ]);
    for (const rotated of rotations) assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const [, convertlyNext, standardNext] = rotations.map((r) => r.body.secret as string);
    const overlapEnds = Date.parse(rotations[0].body.previous_secret_expires_at);

    const before = { convertly: convertly.requests.length, standard: standard.requests.length };
    // Twice inside the overlap, right after the rotation and near its end, with the receivers still holding the old secrets.
    for (const when of [Date.now(), overlapEnds - 9_000]) {
      await new Promise((r) => setTimeout(r, Math.max(0, when - Date.now())));
      const conversion = await convert(await makeImage(300, 200), { user_id: 'u_3', upload_id: 'ul_rotation' });
      for (const ep of Object.values(endpoints)) assert.equal((await api(`/v1/webhooks/endpoints/${ep.id}/test`, 'POST')).status, 202);
      const deliveries = await settledDeliveries();
      assert.ok(Date.now() < overlapEnds, 'the deliveries ended inside the overlap');
      assert.equal(failuresOf(deliveries), '[]', 'old secrets verify through the overlap');
      assert.ok(deliveries.some((d) => d.event_type === 'conversion.completed' && d.endpoint_id === null && d.status === 'succeeded'));
      assert.match(ctf.output(), new RegExp(`Job ${conversion.id} done`));
    }
    // The timestamped header carries both secrets through the overlap; the Standard Webhooks one as well.
    for (const received of convertly.requests.slice(before.convertly)) {
      assert.ok(verifyConvertly(received, convertlySecret) && verifyConvertly(received, convertlyNext!), 'both secrets verify');
    }
    for (const received of standard.requests.slice(before.standard)) verifyDelivery(received, standardNext!, endpoints.standard.secret);

    // After the overlap: single-secret receivers holding the new secret accept (KoalaPic's with its code edited, CTF's with its environment changed).
    await new Promise((r) => setTimeout(r, Math.max(0, overlapEnds - Date.now() + 500)));
    const source = readFileSync(path.join(projectRoot, 'test', 'receivers', 'koalapic_receiver.py'), 'utf8');
    const edited = tempDir('koalapic-next');
    writeFileSync(path.join(edited.path, 'koalapic_next.py'), source.replace('whsec_your_webhook_secret', koalapicNext));
    try {
      const koalapicAfter = await python('flask', 'koalapic_next', {}, edited.path);
      const ctfAfter = await python('uvicorn', 'ctf_receiver:app', { CTF_WEBHOOK_SECRET: ctfNext });
      assert.equal((await api(`/v1/webhooks/endpoints/${endpoints.koalapic.id}`, 'PATCH', { url: `${koalapicAfter.url}/webhooks/koalapic` })).status, 200);
      const sent = await api(`/v1/webhooks/endpoints/${endpoints.koalapic.id}/test`, 'POST');
      const form = uploadForm(await makeImage(300, 200), 'after.jpg', {
        output_format: 'webp',
        webhook_url: `${ctfAfter.url}/webhooks/ctf`,
        webhook_metadata: JSON.stringify({ user_id: 'u_4', upload_id: 'ul_after' }),
      });
      const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: form });
      await waitForConversion(kiln.url, account.key, accepted.body.id);
      const deliveries = await settledDeliveries();
      assert.equal(deliveries.find((d) => d.event_id === sent.body.event_id)?.status, 'succeeded', 'KoalaPic with the new secret');
      assert.equal(failuresOf(deliveries.filter((d) => d.endpoint_id === null)), '[]', 'CTF with the new secret');
      await waitUntil(() => ctfAfter.output().includes(`Job ${accepted.body.id} done`), 30_000, 'the CTF handler with the new secret');
    } finally {
      edited.remove();
    }
  });

  test('templates: refused at save when broken, bounded at send (a slow or huge one fails that attempt only), previewed exactly as sent', async () => {
    const target = await sink();
    const refusedAtSave = [
      { template: '$string(', message: /S0203/ },
      { template: '$error("no such field")', message: /over a sample [a-z.]+ event: .*no such field/ },
      { template: '', message: /template/ },
    ];
    for (const { template, message } of refusedAtSave) {
      const created = await api('/v1/webhooks/endpoints', 'POST', { url: target.url, template });
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.equal(created.body.code, 'invalid_template');
      assert.match(created.body.detail, message);
      const settings = await api('/v1/webhooks/settings', 'PATCH', { template });
      assert.equal(settings.body.code, 'invalid_template');
    }
    for (const signature of [{ header: 'webhook-signature' }, { header: 'X-Sig', form: 'both' }, { header: 'x-sig', timestamp_header: 'X-Sig' }]) {
      const created = await api('/v1/webhooks/endpoints', 'POST', { url: target.url, signature });
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.ok(['invalid_signature', 'invalid_body'].includes(created.body.code), created.body.code);
    }
    const clash = await api('/v1/webhooks/endpoints', 'POST', { url: target.url, signature: { header: 'X-Sig' }, headers: { 'x-sig': 'mine' } });
    assert.equal(clash.body.code, 'invalid_headers');

    // Fine over every sample; loops or grows past its bounds for conversions that ask it to (through their metadata).
    const template = `data.metadata.mode = "loop" ? ($f := function($n) { $f($n + 1) }; $f(0))
      : data.metadata.mode = "huge" ? {"blob": $pad("", 1000000)}
      : {"kind": type, "ref": id}`;
    const created = await api('/v1/webhooks/endpoints', 'POST', { url: target.url, template, event_types: ['file.uploaded', 'conversion.completed'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const endpoint = created.body;
    // Subscribing to more types re-checks the saved template over their samples.
    const picky = await api('/v1/webhooks/endpoints', 'POST', { url: target.url, template: 'data.input.filename', event_types: ['file.uploaded'] });
    assert.equal(picky.status, 201, JSON.stringify(picky.body));
    const widened = await api(`/v1/webhooks/endpoints/${picky.body.id}`, 'PATCH', { event_types: ['file.uploaded', 'job.started'] });
    assert.equal(widened.body.code, 'invalid_template');
    assert.match(widened.body.detail, /job\.started.*no value/);
    assert.equal((await api(`/v1/webhooks/endpoints/${picky.body.id}`, 'DELETE')).status, 204);

    const upload = async (mode: string): Promise<any> => {
      const form = uploadForm(await makeImage(200, 100), `${mode}.jpg`, { output_format: 'png', webhook_metadata: JSON.stringify({ mode }) });
      const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: form });
      assert.equal(accepted.status, 202);
      return waitForConversion(kiln.url, account.key, accepted.body.id);
    };
    const [looping, huge, plain] = [await upload('loop'), await upload('huge'), await upload('plain')];
    await settledDeliveries();
    const ofEndpoint = await listAll(`/v1/webhooks/deliveries?endpoint_id=${endpoint.id}`);
    const bySubject = async (conversionId: string): Promise<any[]> => {
      const events = (await listAll('/v1/events')).filter((event) => event.data?.conversion_id === conversionId).map((event) => event.id);
      return ofEndpoint.filter((delivery) => events.includes(delivery.event_id));
    };
    for (const [conversion, why] of [
      [looping, /ran longer than \d+ ms/],
      // Building the megabyte can outlast the time bound on a busy machine before the size bound
      // sees it; either stops it (test/unit/template-limits.test.ts holds each bound on its own).
      [huge, /larger than \d+ bytes|ran longer than \d+ ms/],
    ] as const) {
      const deliveries = await bySubject(conversion.id);
      assert.equal(deliveries.length, 2);
      for (const delivery of deliveries) {
        assert.equal(delivery.status, 'failed');
        const detail = await api(`/v1/webhooks/deliveries/${delivery.id}`);
        assert.equal(detail.body.attempts.length, 3, 'each scheduled attempt ran the template again');
        for (const attempt of detail.body.attempts) {
          assert.equal(attempt.error.class, 'template');
          assert.match(attempt.error.message, why);
          assert.equal(attempt.status_code, null, 'nothing was sent');
        }
      }
    }
    const delivered = await bySubject(plain.id);
    assert.deepEqual(
      delivered.map((d) => d.status),
      ['succeeded', 'succeeded'],
    );
    // Only the plain conversion's two events reached the receiver, rendered.
    assert.equal(target.requests.length, 2);
    for (const received of target.requests) {
      const body = JSON.parse(received.body);
      assert.deepEqual(Object.keys(body), ['kind', 'ref']);
      verifySignatures(received, endpoint.secret);
    }

    // A preview of a stored event is byte for byte what was sent (file.uploaded has no link signed at send time).
    const uploaded = target.requests.find((received) => JSON.parse(received.body).kind === 'file.uploaded')!;
    const eventId = JSON.parse(uploaded.body).ref as string;
    const preview = await api(`/v1/webhooks/endpoints/${endpoint.id}/preview`, 'POST', { event_id: eventId });
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.equal(preview.body.body, uploaded.body);
    assert.equal(preview.body.url, target.url);
    assert.equal(preview.body.headers['x-kiln-event'], 'file.uploaded');
    assert.equal(preview.body.headers['webhook-id'], uploaded.headers['webhook-id']);
    verifySignatures({ ...uploaded, body: preview.body.body, headers: preview.body.headers }, endpoint.secret);
    // A sample, of the first type the endpoint receives, and a template tried before it is saved.
    const sample = await api(`/v1/webhooks/endpoints/${endpoint.id}/preview`, 'POST');
    assert.equal(sample.status, 200);
    assert.equal(sample.body.event_type, 'file.uploaded');
    const tried = await api(`/v1/webhooks/endpoints/${endpoint.id}/preview`, 'POST', { event_type: 'job.failed', template: '{"n": $count(data.failures)}' });
    assert.equal(tried.body.body, '{"n":1}');
    assert.equal((await api(`/v1/webhooks/endpoints/${endpoint.id}/preview`, 'POST', { event_type: 'nope.nope' })).body.code, 'unknown_event_type');
    const failing = await api(`/v1/webhooks/endpoints/${endpoint.id}/preview`, 'POST', { template: '$error("bad")' });
    assert.equal(failing.status, 422);
    assert.equal(failing.body.code, 'template_failed');
    const settingsPreview = await api('/v1/webhooks/settings/preview', 'POST', { event_type: 'conversion.completed' });
    assert.equal(settingsPreview.status, 200);
    assert.equal(settingsPreview.body.url, null);
    assert.ok(settingsPreview.body.headers['x-ctf-signature'].startsWith('sha256='));
    assert.equal(JSON.parse(settingsPreview.body.body).state, 'done');
  });
});
