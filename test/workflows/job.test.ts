import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { conversionRecorder, createConvertActivities, createJobActivities, createRecordActivities, jobFileRecords } from '../../activities/index.js';
import { ConversionAbortedError, type Converter } from '../../src/convert/converter-pool.js';
import { ConversionInputError } from '../../src/convert/pipeline-errors.js';
import { cancelSignal, jobProgressQuery, type JobChunkInput, type JobWorkflowInput } from '../../workflows/definitions.js';
import { defaultPayloadConverter } from '@temporalio/common';
import { TASK_QUEUES } from '../../src/names.js';
import { openEmbeddedPostgres, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { createAccountWithKey } from '../../src/db/accounts.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { findJobById, insertQueuedJob } from '../../src/db/jobs.js';
import type { Job } from '../../src/db/schema.js';
import { newId } from '../../src/ids.js';
import { workflowBundle } from '../../src/worker/temporal-worker.js';
import type { FirstAttempts } from '../../src/webhooks/first-attempts.js';
import { testFirstAttempts } from '../support/first-attempts.js';
import { runEnding, timeSkippingEnvironment } from '../support/temporal.js';
import { tempDir } from '../support/temp.js';

const SCHEDULE = [30, 120, 600];
const run = { heartbeatTimeoutSeconds: 10, timeLimitSeconds: 60 };

/**
 * The job workflow on the time-skipping test server with the real convert activity
 * converting its chunks of files, the real job and record activities and an embedded
 * database. The image work itself is a stand-in converter (the real one is covered by the
 * conversion tests): these tests are about the job around it.
 */
describe('job workflow (time-skipping test server)', () => {
  let env: TestWorkflowEnvironment;
  let database: DatabaseHandle;
  let deliveries: FirstAttempts;
  let accountId: string;
  const dir = tempDir('job-wf');

  before(async () => {
    env = await timeSkippingEnvironment();
    database = await openEmbeddedPostgres(path.join(dir.path, 'db'));
    await migrateToLatest(database.db);
    accountId = (await createAccountWithKey(database.db, 'job-tests')).account.id;
    deliveries = testFirstAttempts(database.db, env.client, SCHEDULE);
  });

  after(async () => {
    await deliveries?.close(1000);
    await env?.teardown();
    await database?.close();
    dir.remove();
  });

  const recording = () => ({ db: database.db, deliveries, defaultRetrySchedule: SCHEDULE, blobs: new LocalBlobStore(path.join(dir.path, 'blobs')) });

  async function newJob(files: number, concurrency: number): Promise<Job> {
    const { job } = await insertQueuedJob(database.db, {
      id: newId('job'),
      accountId,
      options: { output_format: 'webp' },
      concurrency,
      webhook: { webhookUrl: null, events: null, metadata: { batch: 7 }, tag: null },
      files: Array.from({ length: files }, (_, i) => ({
        id: newId('cnv'),
        options: { output_format: 'webp' },
        inputKey: `jobs/test/${i}`,
        filename: `photo-${i}.jpg`,
        bytes: 100 + i,
        contentType: 'image/jpeg',
      })),
    });
    return job;
  }

  /**
   * Stand-in image work behind the real convert activity: counts how many files convert at
   * once and how often each was converted, and fails (the file's fault), crashes (not its
   * fault: the chunk is retried) or hangs (until its converter is stopped) the files
   * `behaviour` names.
   */
  function standIn(behaviour: (index: number) => 'succeed' | 'fail' | 'crash' | 'hang' = () => 'succeed') {
    const calls = new Map<string, number>();
    let active = 0;
    let peak = 0;
    let started = 0;
    const converter: Converter = {
      async convert(work, _options, run) {
        const conversionId = /conversions\/([^/]+)\//.exec(work.outputKey)![1]!;
        calls.set(conversionId, (calls.get(conversionId) ?? 0) + 1);
        active++;
        started++;
        peak = Math.max(peak, active);
        try {
          const index = Number(/(\d+)$/.exec(work.inputKey)![1]);
          const what = behaviour(index);
          if (what === 'fail') throw new ConversionInputError('unsupported_input', `file ${index} is not an image`);
          if (what === 'crash') throw new Error(`the converter of file ${index} died`);
          if (what === 'hang') {
            await new Promise((resolve) => run.signal?.addEventListener('abort', resolve, { once: true }));
            throw new ConversionAbortedError();
          }
          // Long enough for several files to overlap.
          await new Promise((resolve) => setTimeout(resolve, 20));
          return { input: { format: 'jpeg', width: 64, height: 48, bytes: 100 }, output: { format: 'webp' as const, width: 64, height: 48, bytes: 50 } };
        } finally {
          active--;
        }
      },
    };
    const activities = createConvertActivities({
      blobs: recording().blobs,
      converter,
      record: conversionRecorder(recording()),
      // Every file here is an upload (a job's sources are fetched in test/api/sources.test.ts).
      fetchSource: () => Promise.reject(new Error('these files are uploads: none is fetched')),
      jobs: jobFileRecords(recording()),
      watermarkKeys: () => Promise.resolve(new Map()),
    });
    return { activities, calls, peak: () => peak, started: () => started };
  }

  async function withWorkers<T>(convert: ReturnType<typeof standIn>, body: () => Promise<T>): Promise<T> {
    const workflowWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.workflows,
      workflowBundle: await workflowBundle(),
      activities: { ...createRecordActivities(recording()), ...createJobActivities(recording()) },
    });
    // More slots than any job here runs at once: the job's own window must be what limits it.
    const convertWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.convertJobs,
      activities: convert.activities,
      maxConcurrentActivityTaskExecutions: 50,
    });
    return workflowWorker.runUntil(convertWorker.runUntil(body()));
  }

  function start(job: Job, extra: Partial<JobWorkflowInput> = {}): Promise<WorkflowHandle> {
    return env.client.workflow.start('jobWorkflow', {
      workflowId: job.workflow_id,
      taskQueue: TASK_QUEUES.workflows,
      args: [{ jobId: job.id, accountId, total: job.total, concurrency: job.concurrency, run, ...extra } satisfies JobWorkflowInput],
    });
  }

  /** In the order stored: events stored together share their created_at, and their ids sort only to the millisecond. */
  async function jobEvents(jobId: string): Promise<Array<{ type: string; data: any }>> {
    return database.db.selectFrom('events').select(['type', 'data']).where('subject_id', '=', jobId).orderBy('seq').execute();
  }

  async function fileIds(jobId: string): Promise<string[]> {
    const rows = await database.db.selectFrom('conversions').select('id').where('job_id', '=', jobId).orderBy('job_index').execute();
    return rows.map((r) => r.id);
  }

  async function fileStatuses(jobId: string): Promise<string[]> {
    const rows = await database.db.selectFrom('conversions').select('status').where('job_id', '=', jobId).orderBy('job_index').execute();
    return rows.map((r) => r.status);
  }

  test('converts every file once, never more at once than its concurrency, and reports each', async () => {
    const job = await newJob(12, 3);
    const convert = standIn();
    const ending = await withWorkers(convert, async () => runEnding(await start(job)));
    assert.equal(ending.state, 'COMPLETED');
    assert.equal(ending.status, 'succeeded');
    assert.ok(convert.peak() <= 3, `at most 3 files at once, saw ${convert.peak()}`);
    assert.ok(convert.peak() >= 2, 'files did overlap');
    assert.deepEqual([...convert.calls.values()], Array(12).fill(1), 'each file converted exactly once');
    assert.deepEqual(await fileStatuses(job.id), Array(12).fill('succeeded'));

    const events = await jobEvents(job.id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['job.started', ...Array(12).fill('job.progress'), 'job.completed'],
    );
    const progress = events.filter((e) => e.type === 'job.progress');
    assert.deepEqual(
      progress.map((e) => e.data.file.index).sort((a: number, b: number) => a - b),
      [...Array(12).keys()],
    );
    assert.deepEqual(
      progress.map((e) => e.data.counts.succeeded).sort((a: number, b: number) => a - b),
      [...Array(12).keys()].map((i) => i + 1),
      'each file counted as it ended, once',
    );
    assert.deepEqual(progress.at(-1)!.data.progress, 100);
    const completed = events.at(-1)!.data;
    assert.deepEqual(completed.counts, { total: 12, queued: 0, running: 0, succeeded: 12, failed: 0, cancelled: 0 });
    assert.deepEqual(completed.metadata, { batch: 7 });
    const stored = await findJobById(database.db, job.id);
    assert.equal(stored?.status, 'succeeded');
    assert.equal(stored?.files_succeeded, 12);
    assert.ok(stored?.started_at && stored.completed_at);
  });

  test('failed files end the job failed, listing each with its error code', async () => {
    const job = await newJob(8, 4);
    const convert = standIn((index) => (index === 2 || index === 5 ? 'fail' : 'succeed'));
    const ending = await withWorkers(convert, async () => runEnding(await start(job)));
    assert.equal(ending.state, 'COMPLETED', 'a job whose files failed has still done its work');
    assert.equal(ending.status, 'failed');
    assert.deepEqual(await fileStatuses(job.id), ['succeeded', 'succeeded', 'failed', 'succeeded', 'succeeded', 'failed', 'succeeded', 'succeeded']);
    const events = await jobEvents(job.id);
    const failed = events.at(-1)!;
    assert.equal(failed.type, 'job.failed');
    assert.deepEqual(failed.data.counts, { total: 8, queued: 0, running: 0, succeeded: 6, failed: 2, cancelled: 0 });
    assert.deepEqual(
      failed.data.failures.map((f: any) => [f.index, f.filename, f.status, f.error.code]),
      [
        [2, 'photo-2.jpg', 'failed', 'unsupported_input'],
        [5, 'photo-5.jpg', 'failed', 'unsupported_input'],
      ],
    );
    assert.equal(failed.data.failures_omitted, 0);
    const failedProgress = events.filter((e) => e.type === 'job.progress' && e.data.file.status === 'failed');
    assert.deepEqual(
      failedProgress.map((e) => e.data.file.error.code),
      ['unsupported_input', 'unsupported_input'],
    );
  });

  for (const how of ['signal', 'request'] as const) {
    test(`cancelling the job (${how === 'signal' ? 'the cancel signal' : 'a cancellation request'}) cancels the files under way and starts no more`, async () => {
      const job = await newJob(10, 2);
      const convert = standIn(() => 'hang');
      const ending = await withWorkers(convert, async () => {
        const handle = await start(job);
        while (convert.started() < 2) await new Promise((r) => setTimeout(r, 20));
        if (how === 'signal') await handle.signal(cancelSignal);
        else await handle.cancel();
        return runEnding(handle);
      });
      assert.equal(ending.state, how === 'signal' ? 'COMPLETED' : 'CANCELLED');
      assert.equal(ending.status, 'cancelled');
      assert.equal(convert.started(), 2, 'no file started after the cancel');
      assert.deepEqual(await fileStatuses(job.id), Array(10).fill('cancelled'));
      const events = await jobEvents(job.id);
      assert.deepEqual(
        events.map((e) => e.type),
        ['job.started', 'job.progress', 'job.progress', 'job.cancelled'],
      );
      assert.deepEqual(events.at(-1)!.data.counts, { total: 10, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 10 });
      // Every file has its own conversion.cancelled, whether it was under way or never started.
      const fileEvents = await database.db
        .selectFrom('events')
        .innerJoin('conversions', 'conversions.id', 'events.subject_id')
        .select('events.type')
        .where('conversions.job_id', '=', job.id)
        .where('events.type', '=', 'conversion.cancelled')
        .execute();
      assert.equal(fileEvents.length, 10);
      assert.equal((await findJobById(database.db, job.id))?.status, 'cancelled');
    });
  }

  test('a cancellation request that arrives before the job has begun still ends it cancelled, every file with it', async () => {
    const job = await newJob(4, 2);
    const convert = standIn();
    // Requested before any worker runs: the run's first task sees its start and the request together.
    const handle = await start(job);
    await handle.cancel();
    const ending = await withWorkers(convert, () => runEnding(handle));
    assert.equal(ending.state, 'CANCELLED');
    assert.equal(convert.started(), 0, 'no file started');
    assert.deepEqual(await fileStatuses(job.id), Array(4).fill('cancelled'));
    const stored = await findJobById(database.db, job.id);
    assert.equal(stored?.status, 'cancelled');
    const events = await jobEvents(job.id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['job.started', 'job.cancelled'],
    );
  });

  test('continuing as new every few files keeps exact counts: no file run twice or skipped', async () => {
    const job = await newJob(23, 3);
    const convert = standIn((index) => (index % 7 === 3 ? 'fail' : 'succeed'));
    const { handle, snapshot } = await withWorkers(convert, async () => {
      const started = await start(job, { filesPerRun: 5 });
      await runEnding(started);
      // A closed run answers queries by replay, which needs a worker.
      return { handle: started, snapshot: await started.query(jobProgressQuery) };
    });
    assert.deepEqual([...convert.calls.values()], Array(23).fill(1), 'each file converted exactly once');
    assert.equal(convert.calls.size, 23);
    const events = await jobEvents(job.id);
    const progress = events.filter((e) => e.type === 'job.progress');
    assert.deepEqual(
      progress.map((e) => e.data.file.index).sort((a: number, b: number) => a - b),
      [...Array(23).keys()],
    );
    const last = events.at(-1)!;
    assert.equal(last.type, 'job.failed');
    assert.deepEqual(last.data.counts, { total: 23, queued: 0, running: 0, succeeded: 20, failed: 3, cancelled: 0 });
    assert.deepEqual(
      last.data.failures.map((f: any) => f.index),
      [3, 10, 17],
    );
    // It really did hand over: the run that ended is not the first.
    const history = await handle.fetchHistory();
    const continuedFrom = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    assert.ok(continuedFrom, 'the last run continued from an earlier one');
    assert.equal(snapshot.status, 'failed');
    assert.equal(snapshot.progress, 100);
  });

  test('a chunk that runs out of time leaves its other files to chunks of their own: each converted once', async () => {
    const job = await newJob(9, 2);
    const convert = standIn();
    const { handle, ending } = await withWorkers(convert, async () => {
      // Every chunk is out of time after its first file.
      const started = await start(job, { chunkSeconds: 0.001 });
      return { handle: started, ending: await runEnding(started) };
    });
    assert.equal(ending.status, 'succeeded');
    assert.deepEqual([...convert.calls.values()], Array(9).fill(1), 'each file converted exactly once');
    const { events } = await handle.fetchHistory();
    const chunks = events!
      .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'convertJobFiles')
      .map((event) => defaultPayloadConverter.fromPayload<JobChunkInput>(event.activityTaskScheduledEventAttributes!.input!.payloads![0]!));
    assert.deepEqual(
      chunks.map((chunk) => chunk.fromIndex).sort((a, b) => a - b),
      [...Array(9).keys()],
      'each file began a chunk: the one that took it, and none after',
    );
    assert.ok(
      chunks.some((chunk) => chunk.count > 1),
      'chunks were given more files than they took',
    );
  });

  test("a file whose conversion keeps dying fails after its tries; the chunk's other files convert once", async () => {
    const job = await newJob(6, 1);
    const convert = standIn((index) => (index === 1 ? 'crash' : 'succeed'));
    const ending = await withWorkers(convert, async () => runEnding(await start(job)));
    assert.equal(ending.status, 'failed');
    const dying = (await fileIds(job.id))[1]!;
    assert.equal(convert.calls.get(dying), 5, 'five tries of the file that dies');
    assert.deepEqual(
      [...convert.calls.entries()].filter(([id]) => id !== dying).map(([, calls]) => calls),
      Array(5).fill(1),
    );
    assert.deepEqual(await fileStatuses(job.id), ['succeeded', 'failed', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const failed = (await jobEvents(job.id)).at(-1)!;
    assert.equal(failed.type, 'job.failed');
    assert.deepEqual(
      failed.data.failures.map((f: any) => [f.index, f.error.code, f.error.message]),
      [[1, 'conversion_error', 'the converter of file 1 died']],
    );
    assert.deepEqual(failed.data.counts, { total: 6, queued: 0, running: 0, succeeded: 5, failed: 1, cancelled: 0 });
  });

  test('a worker that stops mid-file does not cancel the file: the chunk is retried elsewhere and converts it', async () => {
    const job = await newJob(3, 1);
    let stopping = true;
    const convert = standIn((index) => (index === 0 && stopping ? 'hang' : 'succeed'));
    const workflowWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.workflows,
      workflowBundle: await workflowBundle(),
      activities: { ...createRecordActivities(recording()), ...createJobActivities(recording()) },
    });
    const ending = await workflowWorker.runUntil(async () => {
      const handle = await start(job);
      // Its grace runs out while the file hangs: the worker cancels the activity as it stops.
      const first = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: TASK_QUEUES.convertJobs,
        activities: convert.activities,
        shutdownGraceTime: '100 milliseconds',
      });
      await first.runUntil(async () => {
        while (convert.started() < 1) await new Promise((r) => setTimeout(r, 20));
      });
      stopping = false;
      const second = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUES.convertJobs, activities: convert.activities });
      return second.runUntil(runEnding(handle));
    });
    assert.equal(ending.status, 'succeeded');
    assert.deepEqual(await fileStatuses(job.id), ['succeeded', 'succeeded', 'succeeded']);
    const [cut] = await fileIds(job.id);
    assert.equal(convert.calls.get(cut!), 2, 'the file cut off was converted again');
    const row = await database.db.selectFrom('conversions').select('attempts').where('id', '=', cut!).executeTakeFirstOrThrow();
    assert.equal(row.attempts, 2);
    const cancelled = await database.db.selectFrom('events').select('id').where('subject_id', '=', cut!).where('type', '=', 'conversion.cancelled').execute();
    assert.deepEqual(cancelled, []);
  });
});
