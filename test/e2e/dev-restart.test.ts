import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { openEmbeddedPostgres } from '../../src/db/database.js';
import { tempDir } from '../support/temp.js';
import { freePort } from '../support/postgres.js';
import { request, uploadForm, waitForConversion } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { killHard, killSpawned, startKilnDev, stopGracefully, waitUntil } from '../support/processes.js';

const dir = tempDir('dev-restart');
const spoolRoot = path.join(dir.path, 'spool');
const spooledFiles = (): string[] =>
  existsSync(spoolRoot)
    ? readdirSync(spoolRoot, { withFileTypes: true, recursive: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
    : [];
after(async () => {
  await killSpawned();
  dir.remove();
});

test('kiln dev killed with conversions queued and running: after a restart every one finishes exactly once', async () => {
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const env = { ...ports, KILN_DATA_DIR: dir.path, KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: '3', KILN_CONVERT_CONCURRENCY: '1', KILN_LOG_LEVEL: 'info' };
  const apiUrl = `http://127.0.0.1:${ports.PORT}`;
  const startDev = async (extra: Record<string, string>) => {
    const child = await startKilnDev({ ...env, ...extra });
    // npm start lets webhooks reach receivers on this machine, and says so.
    assert.match(child.output(), /webhooks may reach these non-public ranges \(KILN_WEBHOOK_ALLOWED_CIDRS\): 127\.0\.0\.0\/8, ::1\/128/);
    return child;
  };

  // AVIF at effort 6 (~10 s an image here) keeps conversions queued and running when the kill lands.
  const first = await startDev({ KILN_AVIF_EFFORT: '6' });
  const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
  const image = await makeImage(3000, 2000);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const response = await request(`${apiUrl}/v1/conversions`, {
      method: 'POST',
      key,
      body: uploadForm(image, `p${i}.jpg`, { output_format: 'avif', width: '2000' }),
    });
    assert.equal(response.status, 202);
    ids.push(response.body.id);
  }
  const statusesNow = () => Promise.all(ids.map(async (id) => (await request(`${apiUrl}/v1/conversions/${id}`, { key })).body.status as string));
  await waitUntil(async () => (await statusesNow()).includes('running'), 60_000, 'a conversion to run');
  // The worker takes two convert tasks per converter, so which of the first two finishes first varies;
  // what matters is that the kill lands with conversions running and others not started.
  const statuses = await statusesNow();
  assert.ok(statuses.includes('running') && statuses.includes('queued'), `conversions running and queued when the kill lands: ${statuses.join(', ')}`);
  // An upload half sent when the kill lands leaves its spool file behind.
  const halfSent = http.request(`${apiUrl}/v1/conversions?output_format=png`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg', 'content-length': String(image.length) },
  });
  halfSent.on('error', () => {}); // the kill cuts it off
  halfSent.write(image.subarray(0, image.length >> 1));
  await waitUntil(() => spooledFiles().length > 0, 30_000, 'the half-sent upload to be spooled');
  await killHard(first);
  halfSent.destroy();

  const second = await startDev({ KILN_AVIF_EFFORT: '2' });
  try {
    assert.equal(readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim(), key, 'the dev key survives a restart');
    for (const id of ids) {
      const done = await waitForConversion(apiUrl, key, id, 120_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
    }
    const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
    try {
      const client = new Client({ connection });
      for (const id of ids) {
        const runs = [];
        for await (const run of client.workflow.list({ query: `WorkflowId = "conversion-${id}"` })) runs.push(run);
        assert.equal(runs.length, 1, `one workflow run for ${id}`);
        assert.equal(runs[0]!.status.name, 'COMPLETED');
      }
    } finally {
      await connection.close();
    }
    // The dead process's spool went when the new one started, not an hour later.
    assert.deepEqual(spooledFiles(), [], 'the killed upload spool file is gone after the restart');
  } finally {
    assert.equal(await stopGracefully(second, 60_000), 0, second.output());
  }

  assert.ok(existsSync(path.join(dir.path, 'temporal.db')), 'Temporal state is persisted under the data dir');
  const database = await openEmbeddedPostgres(path.join(dir.path, 'pglite'));
  try {
    const completed = await database.db.selectFrom('events').select('subject_id').where('type', '=', 'conversion.completed').execute();
    assert.deepEqual(completed.map((e) => e.subject_id).sort(), [...ids].sort(), 'one conversion.completed per conversion');
  } finally {
    await database.close();
  }
});
