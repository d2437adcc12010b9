import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { historyEventMs } from '../support/temporal.js';

/**
 * Fair share of the converters, on the dev server as `kiln dev` runs it (task queue fairness,
 * one write partition) with real converters. What is asserted is order, not time: how many of
 * a busy account's conversions a worker took between a quiet one's arrival and its start. In
 * order of arrival that is the busy account's whole backlog; fairly, at most what the worker
 * had already taken (two tasks per converter).
 */
describe('fair share of the converters', () => {
  const CONVERTERS = 2;
  let kiln: TestKiln;
  let busy: { id: string; key: string };
  let quiet: { id: string; key: string };
  let slow: Buffer;
  let thumbnail: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded', { KILN_CONVERT_CONCURRENCY: String(CONVERTERS), KILN_JOB_CONCURRENCY: '8' });
    busy = await createAccount(kiln.url, kiln.adminToken, 'busy');
    quiet = await createAccount(kiln.url, kiln.adminToken, 'quiet');
    slow = await makeImage(1200, 1200, 'png');
    thumbnail = await makeImage(320, 240);
  });
  after(async () => kiln?.stop());

  async function submit(key: string, file: Buffer, fields: Record<string, string>): Promise<string> {
    const response = await request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(file, 'in.png', fields) });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    return response.body.id as string;
  }

  async function conversion(key: string, id: string): Promise<{ status: string; created_at: string; started_at: string | null; workflow_id: string }> {
    return (await request(`${kiln.url}/v1/conversions/${id}`, { key })).body;
  }

  /**
   * When the conversion's convert task was put on the queue: from then on a worker could take
   * it. Its row is stored earlier (before its run starts), and on a busy machine a converter
   * may take another task in between, fairly.
   */
  async function queuedAt(workflowId: string): Promise<number> {
    const { events } = await kiln.env.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = events!.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'convertImage')!;
    return historyEventMs(scheduled.eventTime);
  }

  /** The quiet conversion's wait, in conversions of `others` a worker took while it waited; and how many were still waiting when it arrived. */
  async function overtaken(key: string, others: string[], mine: { started_at: string | null; workflow_id: string }) {
    const arrived = await queuedAt(mine.workflow_id);
    const started = Date.parse(mine.started_at!);
    let takenMeanwhile = 0;
    let waitingAtArrival = 0;
    for (const id of others) {
      const other = await conversion(key, id);
      const taken = other.started_at ? Date.parse(other.started_at) : Infinity;
      if (taken > arrived) waitingAtArrival++;
      if (taken > arrived && taken < started) takenMeanwhile++;
    }
    return { takenMeanwhile, waitingAtArrival };
  }

  async function cancelAll(key: string, ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => request(`${kiln.url}/v1/conversions/${id}/cancel`, { method: 'POST', key })));
  }

  test("a quiet account's conversion is taken next, not behind another account's backlog", { timeout: 300_000 }, async () => {
    const backlog: string[] = [];
    // Sent together, so that the backlog is there however slowly this machine answers uploads.
    backlog.push(...(await Promise.all(Array.from({ length: 24 }, () => submit(busy.key, slow, { output_format: 'avif' })))));
    const mine = await waitForConversion(kiln.url, quiet.key, await submit(quiet.key, thumbnail, { output_format: 'webp', width: '100' }), 120_000);
    assert.equal(mine.status, 'succeeded');
    const { takenMeanwhile, waitingAtArrival } = await overtaken(busy.key, backlog, mine);
    console.log(`the quiet account's conversion arrived with ${waitingAtArrival} of the busy account's waiting; ${takenMeanwhile} were taken before it`);
    assert.ok(waitingAtArrival >= 12, `a backlog was there to jump: ${waitingAtArrival} waiting`);
    assert.ok(takenMeanwhile <= 2 * CONVERTERS, `${takenMeanwhile} of the busy account's conversions were taken first`);
    await cancelAll(busy.key, backlog);
  });

  test("an account's own conversion is not held behind its jobs", { timeout: 300_000 }, async () => {
    const files: string[] = [];
    for (let j = 0; j < 3; j++) {
      const form = new FormData();
      form.set('output_format', 'avif');
      for (let i = 0; i < 8; i++) form.append('file', new Blob([slow]), `f${i}.png`);
      const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: busy.key, body: form });
      assert.equal(job.status, 202, JSON.stringify(job.body));
      const listed = await request(`${kiln.url}/v1/jobs/${job.body.id}/conversions?limit=100`, { key: busy.key });
      files.push(...(listed.body.data as Array<{ id: string }>).map((file) => file.id));
    }
    // Every job has started its window of files before the conversion arrives.
    await waitUntil(
      async () => (await Promise.all(files.map((id) => conversion(busy.key, id)))).filter((c) => c.status !== 'queued').length >= 1,
      60_000,
      'the jobs to run',
    );
    const mine = await waitForConversion(kiln.url, busy.key, await submit(busy.key, thumbnail, { output_format: 'webp', width: '100' }), 120_000);
    assert.equal(mine.status, 'succeeded');
    const { takenMeanwhile, waitingAtArrival } = await overtaken(busy.key, files, mine);
    console.log(`the account's own conversion arrived with ${waitingAtArrival} of its job files waiting; ${takenMeanwhile} were taken before it`);
    assert.ok(waitingAtArrival >= 12, `a backlog was there to jump: ${waitingAtArrival} waiting`);
    assert.ok(takenMeanwhile <= 2 * CONVERTERS, `${takenMeanwhile} job files were taken first`);
    await cancelAll(busy.key, files);
  });
});
