import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestKiln, type DatabaseKind, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { waitUntil } from '../support/processes.js';
import { RETENTION_SCHEDULE_ID } from '../../src/names.js';

/**
 * Retention: the `kiln-retention` schedule, triggered now, with every period at one second,
 * removes originals, outputs, event payloads and attempt previews; what it removed is
 * marked (the conversion still reads, its download expired), counted in /metrics, and
 * gone from the blob store. On both databases.
 */
for (const kind of ['embedded', 'postgres'] as DatabaseKind[]) {
  describe(`retention (${kind} database)`, () => {
    let kiln: TestKiln;
    let receiver: Receiver;

    before(async () => {
      kiln = await startTestKiln(kind, {
        KILN_RETENTION_ORIGINALS: '1s',
        KILN_RETENTION_OUTPUTS: '1s',
        KILN_RETENTION_EVENTS: '1s',
        KILN_RETENTION_ATTEMPTS: '1s',
        KILN_RETENTION_ARCHIVES: '1s',
        KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
      });
      receiver = await startReceiver([{ status: 200, body: 'thanks, received' }]);
    });

    after(async () => {
      await receiver?.close();
      await kiln?.stop();
    });

    async function runRetentionNow(): Promise<Record<string, number>> {
      const client = kiln.env.client;
      const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
      const described = await handle.describe();
      assert.equal(described.spec.intervals?.[0]?.every, 3_600_000, 'hourly');
      const runsBefore = described.info.recentActions.length;
      await handle.trigger();
      let workflowId = '';
      await waitUntil(
        async () => {
          const actions = (await handle.describe()).info.recentActions;
          if (actions.length <= runsBefore) return false;
          workflowId = actions.at(-1)!.action.workflow.workflowId;
          return true;
        },
        30_000,
        'the triggered run',
      );
      return (await client.workflow.getHandle(workflowId).result()) as Record<string, number>;
    }

    test('originals, outputs, event payloads and attempt previews past their periods are purged, marked and counted', async () => {
      const account = await createAccount(kiln.url, kiln.adminToken, `retention-${kind}`);
      const endpoint = await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, account.key, 'POST', { url: receiver.url });
      assert.equal(endpoint.status, 201);
      const created = await request(`${kiln.url}/v1/conversions`, {
        method: 'POST',
        key: account.key,
        body: uploadForm(await makeImage(300, 200), 'old.jpg', { output_format: 'webp', outputs: JSON.stringify([{ width: 100 }, { width: 50 }]) }),
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const done = await waitForConversion(kiln.url, account.key, created.body.id);
      assert.equal(done.status, 'succeeded');
      const oldLink: string = done.download_url;
      assert.equal((await fetch(oldLink)).status, 200);
      const row = await kiln.database.db.selectFrom('conversions').selectAll().where('id', '=', done.id).executeTakeFirstOrThrow();
      const keys = [row.input_key, row.output_key!, ...(row.outputs ?? []).map((output) => output.key)];
      for (const key of keys) assert.notEqual(await kiln.blobs.size(key), undefined, `${key} is stored`);
      const form = new FormData();
      form.set('output_format', 'png');
      form.append('file', new Blob([await makeImage(60, 40)]), 'one.jpg');
      const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form });
      assert.equal(job.status, 202, JSON.stringify(job.body));
      await waitUntil(async () => (await request(`${kiln.url}/v1/jobs/${job.body.id}`, { key: account.key })).body.status === 'succeeded', 30_000, 'the job');
      await waitUntil(
        async () =>
          (await kiln.database.db.selectFrom('deliveries').select('status').where('account_id', '=', account.id).execute()).every(
            (delivery) => delivery.status === 'succeeded',
          ) && receiver.requests.length >= 3,
        30_000,
        'the deliveries',
      );
      // Past every period (one second), then the schedule's run, now.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const purged = await runRetentionNow();
      assert.ok(purged.originals! >= 2 && purged.outputs! >= 2 && purged.event_payloads! >= 3 && purged.attempt_previews! >= 3, JSON.stringify(purged));

      for (const key of keys) assert.equal(await kiln.blobs.size(key), undefined, `${key} is deleted`);
      const read = await request(`${kiln.url}/v1/conversions/${done.id}`, { key: account.key });
      assert.equal(read.status, 200);
      assert.equal(read.body.status, 'succeeded', 'the conversion still reads');
      assert.equal(read.body.output.width, 100, 'with its facts');
      assert.ok(read.body.original_purged_at && read.body.output_purged_at, JSON.stringify(read.body));
      assert.equal(read.body.download_url, undefined, 'no live download link');
      assert.equal(read.body.outputs[1].download_url, undefined);
      assertProblem(await request(oldLink), 410, 'output_expired');

      // A job may no longer name its original.
      const naming = await jsonRequest(`${kiln.url}/v1/jobs`, account.key, 'POST', { output_format: 'png', inputs: [{ conversion_id: done.id }] });
      assertProblem(naming, 422, 'source_not_found');
      assert.match(naming.body.detail, /retention/);
      // The ended job's archive is past KILN_RETENTION_ARCHIVES.
      const ended = await request(`${kiln.url}/v1/jobs/${job.body.id}`, { key: account.key });
      assert.equal(ended.body.archive_expired, true);
      assert.equal(ended.body.archive_url, undefined);
      assertProblem(await request(`${kiln.url}/v1/jobs/${job.body.id}/archive`, { key: account.key }), 410, 'archive_expired');

      // Events keep their row and type; the payload is gone, so its deliveries cannot be sent again.
      const events = await kiln.database.db.selectFrom('events').selectAll().where('account_id', '=', account.id).execute();
      assert.ok(events.every((event) => event.payload_purged_at !== null && Object.keys(event.data).length === 0));
      const delivery = await kiln.database.db.selectFrom('deliveries').select('id').where('account_id', '=', account.id).executeTakeFirstOrThrow();
      assertProblem(await request(`${kiln.url}/v1/webhooks/deliveries/${delivery.id}/retry`, { method: 'POST', key: account.key }), 409, 'event_purged');
      const attempts = await kiln.database.db
        .selectFrom('delivery_attempts')
        .innerJoin('deliveries', 'deliveries.id', 'delivery_attempts.delivery_id')
        .select(['response_body_preview', 'request_headers', 'request_body'])
        .where('deliveries.account_id', '=', account.id)
        .execute();
      assert.ok(
        attempts.length >= 3 &&
          attempts.every((attempt) => attempt.response_body_preview === null && attempt.request_headers === null && attempt.request_body === null),
      );

      // Counted where the purge ran (this process is API and worker at once).
      const metrics = await (await fetch(`${kiln.url}/metrics`, { headers: { authorization: `Bearer ${kiln.adminToken}` } })).text();
      for (const kind of ['original', 'output', 'event_payload', 'attempt_preview']) {
        const line = metrics.split('\n').find((l) => l.startsWith(`kiln_retention_purged_total{kind="${kind}"}`));
        assert.ok(line && Number(line.split(' ')[1]) >= 1, `${kind} counted: ${line}`);
      }

      // A second run finds nothing left.
      assert.deepEqual(await runRetentionNow(), { originals: 0, outputs: 0, event_payloads: 0, attempt_previews: 0 });
    });
  });
}
