import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../src/config.js';
import { connectPostgres, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { installTestRuntime } from '../support/temporal.js';
import { startApiRole, type ApiRole } from '../../src/roles/api.js';
import { devServerExecutable } from '../../tools/temporal-toolchain.js';
import { startTestPostgres, freePort, type TestPostgres } from '../support/postgres.js';
import { tempDir } from '../support/temp.js';
import { createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { identify, makeImage } from '../support/images.js';
import { killHard, killSpawned, spawnKiln, stopGracefully, waitUntil } from '../support/processes.js';

const dir = tempDir('restart');
let postgres: TestPostgres;
let database: DatabaseHandle;
let temporal: TestWorkflowEnvironment;
let api: ApiRole;
let temporalAddress: string;
const adminToken = 'restart-admin-token';
const heartbeatTimeoutSeconds = 3;

before(async () => {
  installTestRuntime();
  postgres = await startTestPostgres();
  database = connectPostgres(postgres.url);
  await migrateToLatest(database.db);
  const port = await freePort();
  temporal = await TestWorkflowEnvironment.createLocal({ server: { executable: await devServerExecutable(), ip: '127.0.0.1', port } });
  temporalAddress = `127.0.0.1:${port}`;
  const config = loadConfig({
    KILN_DATA_DIR: dir.path,
    PORT: '0',
    KILN_ADMIN_TOKEN: adminToken,
    KILN_SIGNING_KEY: 'restart-signing-key',
    KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: String(heartbeatTimeoutSeconds),
  });
  api = await startApiRole(config, database, temporal.client, new LocalBlobStore(path.join(dir.path, 'blobs')));
});

after(async () => {
  await killSpawned();
  await api?.stop();
  await temporal?.teardown();
  await database?.close();
  postgres?.stop();
  dir.remove();
});

function startWorker(extraEnv: Record<string, string>) {
  return spawnKiln(['worker'], {
    DATABASE_URL: postgres.url,
    TEMPORAL_ADDRESS: temporalAddress,
    KILN_DATA_DIR: dir.path,
    KILN_SIGNING_KEY: 'restart-signing-key',
    ...extraEnv,
  });
}

test('a worker killed mid-conversion: another worker retries the attempt and the conversion succeeds', async () => {
  const { key } = await createAccount(api.api.url, adminToken, 'restart');
  // Slow on purpose (AVIF at effort 6 takes ~10 s for 6 MP here) so the kill lands mid-encode.
  const doomed = startWorker({ KILN_AVIF_EFFORT: '6' });
  const accepted = await request(`${api.api.url}/v1/conversions`, {
    method: 'POST',
    key,
    body: uploadForm(await makeImage(3000, 2000), 'big.jpg', { output_format: 'avif', width: '2800' }),
  });
  assert.equal(accepted.status, 202);
  const handle = temporal.client.workflow.getHandle(accepted.body.workflow_id);

  await waitUntil(
    async () => {
      const description = await handle.describe().catch(() => undefined);
      const pending = description?.raw.pendingActivities ?? [];
      if (doomed.exitCode !== null) throw new Error(`the worker exited: ${doomed.output()}`);
      return pending.some((a) => a.activityType?.name === 'convertImage' && a.lastStartedTime);
    },
    60_000,
    'the convert activity to start on the first worker',
  );
  await killHard(doomed);

  const rescuer = startWorker({ KILN_AVIF_EFFORT: '2' });
  try {
    const done = await waitForConversion(api.api.url, key, accepted.body.id, 120_000);
    assert.equal(done.status, 'succeeded', `${JSON.stringify(done)}\n${rescuer.output()}`);
    assert.equal(done.attempts, 2, 'the second attempt produced the output');
    const bytes = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
    assert.deepEqual(await identify(bytes), { format: 'heic', width: 2800, height: 1867 });
    const completed = await database.db
      .selectFrom('events')
      .select('id')
      .where('subject_id', '=', accepted.body.id)
      .where('type', '=', 'conversion.completed')
      .execute();
    assert.equal(completed.length, 1);
  } finally {
    assert.equal(await stopGracefully(rescuer), 0, rescuer.output());
  }
});

test('a worker killed mid-job: another worker finishes the job, every file converted exactly once', async () => {
  const { key } = await createAccount(api.api.url, adminToken, 'restart-job');
  const doomed = startWorker({ KILN_AVIF_EFFORT: '6', KILN_CONVERT_CONCURRENCY: '1' });
  const files = 6;
  const form = new FormData();
  form.set('output_format', 'avif');
  form.set('width', '1200');
  form.set('concurrency', '2');
  for (let i = 0; i < files; i++) form.append('file', new Blob([await makeImage(2400 + i * 16, 1600)]), `p${i}.jpg`);
  const accepted = await request(`${api.api.url}/v1/jobs`, { method: 'POST', key, body: form });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const id: string = accepted.body.id;
  await waitUntil(
    async () => {
      if (doomed.exitCode !== null) throw new Error(`the worker exited: ${doomed.output()}`);
      return (await request(`${api.api.url}/v1/jobs/${id}`, { key })).body.counts.succeeded >= 1;
    },
    120_000,
    'a file of the job to finish on the first worker',
  );
  const statuses = (await request(`${api.api.url}/v1/jobs/${id}/conversions?limit=100`, { key })).body.data.map((file: any) => file.status);
  assert.ok(statuses.includes('queued'), `files not started when the kill lands: ${statuses.join(', ')}`);
  await killHard(doomed);

  const rescuer = startWorker({ KILN_AVIF_EFFORT: '2' });
  try {
    await waitUntil(
      async () => !['queued', 'running'].includes((await request(`${api.api.url}/v1/jobs/${id}`, { key })).body.status),
      180_000,
      'the job to end',
    );
    const job = (await request(`${api.api.url}/v1/jobs/${id}`, { key })).body;
    assert.equal(job.status, 'succeeded', `${JSON.stringify(job)}\n${rescuer.output()}`);
    assert.deepEqual(job.counts, { total: files, queued: 0, running: 0, succeeded: files, failed: 0, cancelled: 0 });
    const fileIds = (await database.db.selectFrom('conversions').select('id').where('job_id', '=', id).execute()).map((row) => row.id);
    const completed = await database.db
      .selectFrom('events')
      .select('subject_id')
      .where('type', '=', 'conversion.completed')
      .where('subject_id', 'in', fileIds)
      .execute();
    assert.deepEqual(completed.map((event) => event.subject_id).sort(), [...fileIds].sort(), 'one conversion.completed per file');
    const progress = await database.db.selectFrom('events').select('data').where('type', '=', 'job.progress').where('subject_id', '=', id).execute();
    assert.deepEqual(
      progress.map((event) => (event.data as { file: { index: number } }).file.index).sort((a, b) => a - b),
      [...Array(files).keys()],
      'one job.progress per file',
    );
  } finally {
    assert.equal(await stopGracefully(rescuer), 0, rescuer.output());
  }
});
