import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { filesTakenByChunks } from '../support/temporal.js';
import { openEmbeddedPostgres } from '../../src/db/database.js';
import { tempDir } from '../support/temp.js';
import { freePort } from '../support/postgres.js';
import { request } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { killHard, killSpawned, startKilnDev, stopGracefully, waitUntil } from '../support/processes.js';

const dir = tempDir('job-restart');
after(async () => {
  await killSpawned();
  dir.remove();
});

const FILES = 8;

test('kiln dev killed mid-job: after a restart the job finishes, every file converted exactly once', async () => {
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const env = { ...ports, KILN_DATA_DIR: dir.path, KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: '3', KILN_CONVERT_CONCURRENCY: '1', KILN_LOG_LEVEL: 'info' };
  const apiUrl = `http://127.0.0.1:${ports.PORT}`;
  const startDev = (extra: Record<string, string>) => startKilnDev({ ...env, ...extra });

  // AVIF at effort 6 (seconds an image here) keeps files finished, running and not started when the kill lands.
  const first = await startDev({ KILN_AVIF_EFFORT: '6' });
  const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
  const form = new FormData();
  form.set('output_format', 'avif');
  form.set('width', '1200');
  form.set('concurrency', '2');
  for (let i = 0; i < FILES; i++) form.append('file', new Blob([await makeImage(2400 + i * 16, 1600)]), `p${i}.jpg`);
  const accepted = await request(`${apiUrl}/v1/jobs`, { method: 'POST', key, body: form });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const id: string = accepted.body.id;

  // The kill lands once a file has finished and files remain that have not started.
  await waitUntil(
    async () => {
      const job = (await request(`${apiUrl}/v1/jobs/${id}`, { key })).body;
      return job.counts.succeeded >= 1;
    },
    120_000,
    'a file of the job to finish',
  );
  const before = (await request(`${apiUrl}/v1/jobs/${id}/conversions?limit=100`, { key })).body.data.map((file: any) => file.status);
  assert.ok(before.includes('queued'), `files not started yet when the kill lands: ${before.join(', ')}`);
  await killHard(first);

  const second = await startDev({ KILN_AVIF_EFFORT: '2' });
  try {
    await waitUntil(async () => !['queued', 'running'].includes((await request(`${apiUrl}/v1/jobs/${id}`, { key })).body.status), 180_000, 'the job to end');
    const job = (await request(`${apiUrl}/v1/jobs/${id}`, { key })).body;
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.counts, { total: FILES, queued: 0, running: 0, succeeded: FILES, failed: 0, cancelled: 0 });
    const files = (await request(`${apiUrl}/v1/jobs/${id}/conversions?limit=100`, { key })).body.data;
    assert.deepEqual(
      files.map((file: any) => [file.job_index, file.status]),
      Array.from({ length: FILES }, (_, i) => [i, 'succeeded']),
    );

    const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
    try {
      const client = new Client({ connection });
      const jobRuns = [];
      for await (const run of client.workflow.list({ query: `WorkflowId = "job-${id}"` })) jobRuns.push(run);
      assert.equal(jobRuns.length, 1, 'the job is one run');
      assert.equal(jobRuns[0]!.status.name, 'COMPLETED');
      // Its files were converted in its own run, each taken by one chunk: no run of their own.
      assert.deepEqual(await filesTakenByChunks(client.workflow.getHandle(`job-${id}`)), [...Array(FILES).keys()]);
      for await (const run of client.workflow.list({ query: `WorkflowType = "conversionWorkflow"` })) {
        assert.ok(!files.some((file: any) => run.workflowId === `conversion-${file.id}`), `no run of its own for ${run.workflowId}`);
      }
    } finally {
      await connection.close();
    }
  } finally {
    assert.equal(await stopGracefully(second, 60_000), 0, second.output());
  }

  const database = await openEmbeddedPostgres(path.join(dir.path, 'pglite'));
  try {
    const events = await database.db.selectFrom('events').select(['type', 'subject_id', 'data']).execute();
    const fileIds = new Set((await database.db.selectFrom('conversions').select('id').where('job_id', '=', id).execute()).map((row) => row.id));
    const completed = events.filter((event) => event.type === 'conversion.completed' && fileIds.has(event.subject_id));
    assert.equal(completed.length, FILES, 'one conversion.completed per file');
    assert.equal(new Set(completed.map((event) => event.subject_id)).size, FILES);
    const progress = events.filter((event) => event.type === 'job.progress' && event.subject_id === id);
    assert.deepEqual(
      progress.map((event) => (event.data as any).file.index).sort((a: number, b: number) => a - b),
      [...Array(FILES).keys()],
      'one job.progress per file',
    );
    assert.equal(events.filter((event) => event.type === 'job.completed' && event.subject_id === id).length, 1);
    assert.equal(events.filter((event) => event.type === 'job.started' && event.subject_id === id).length, 1);
  } finally {
    await database.close();
  }
});
