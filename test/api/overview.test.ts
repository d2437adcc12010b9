import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm } from '../support/http.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { waitUntil } from '../support/processes.js';

const PHOTO = readFileSync('/usr/share/backgrounds/mate/nature/Aqua.jpg');

describe('GET /v1/overview: an account’s recent work at a glance', () => {
  let kiln: TestKiln;
  let failing: Receiver;

  before(async () => {
    kiln = await startTestKiln('embedded', { KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8', KILN_WEBHOOK_RETRY_SCHEDULE: '' });
    failing = await startReceiver([{ status: 500 }]);
  });
  after(async () => {
    await failing?.close();
    await kiln?.stop();
  });

  async function convertAndWait(key: string, file: Buffer, fields: Record<string, string>): Promise<string> {
    const accepted = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(file, 'photo.jpg', fields) });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    let status = '';
    await waitUntil(
      async () => ['succeeded', 'failed'].includes((status = (await jsonRequest(`${kiln.url}/v1/conversions/${accepted.body.id}`, key, 'GET')).body.status)),
      60_000,
      'the conversion to end',
    );
    return status;
  }

  test('counts the account’s own conversions, failures, completion times, deliveries and failing endpoints; nobody else’s', async () => {
    const mine = await createAccount(kiln.url, kiln.adminToken, 'overview-mine');
    const theirs = await createAccount(kiln.url, kiln.adminToken, 'overview-theirs');
    const endpoint = await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, mine.key, 'POST', { url: failing.url, event_types: ['conversion.completed'] });
    assert.equal(endpoint.status, 201);

    assert.equal(await convertAndWait(mine.key, PHOTO, { output_format: 'png', width: '40' }), 'succeeded');
    assert.equal(await convertAndWait(mine.key, PHOTO, { output_format: 'webp', width: '40' }), 'succeeded');
    assert.equal(await convertAndWait(mine.key, PHOTO.subarray(0, 3000), { output_format: 'webp' }), 'failed');
    assert.equal(await convertAndWait(theirs.key, PHOTO, { output_format: 'avif', width: '40' }), 'succeeded');
    // Each succeeded conversion's completed event fails at the receiver: two failed deliveries, and the endpoint failing.
    await waitUntil(
      async () => (await jsonRequest(`${kiln.url}/v1/webhooks/deliveries?status=failed`, mine.key, 'GET')).body.data.length === 2,
      30_000,
      'two failed deliveries',
    );

    const overview = await jsonRequest(`${kiln.url}/v1/overview`, mine.key, 'GET');
    assert.equal(overview.status, 200);
    assert.equal(overview.body.hours, 24);
    assert.deepEqual(overview.body.conversions.by_status, { succeeded: 2, failed: 1 });
    assert.deepEqual(overview.body.conversions.by_format, { png: 1, webp: 2 });
    assert.deepEqual(overview.body.conversions.failure_codes, [{ code: 'unsupported_input', count: 1 }]);
    const completion = overview.body.conversions.completion_ms;
    assert.equal(completion.count, 2);
    assert.ok(completion.p50 > 0 && completion.p50 <= completion.p95, JSON.stringify(completion));
    assert.deepEqual(overview.body.deliveries.by_status, { failed: 2 });
    assert.deepEqual(
      overview.body.failing_endpoints.map((e: { id: string; enabled: boolean }) => [e.id, e.enabled]),
      [[endpoint.body.id, true]],
    );

    const other = (await jsonRequest(`${kiln.url}/v1/overview?hours=1`, theirs.key, 'GET')).body;
    assert.deepEqual([other.conversions.by_status, other.conversions.by_format, other.failing_endpoints], [{ succeeded: 1 }, { avif: 1 }, []]);
    assert.deepEqual(other.deliveries.by_status, {});

    for (const hours of ['0', '169', 'day'])
      assertProblem(await jsonRequest(`${kiln.url}/v1/overview?hours=${hours}`, mine.key, 'GET'), 400, 'invalid_parameter');
  });
});
