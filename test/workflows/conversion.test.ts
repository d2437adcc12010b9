import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { conversionRecorder, createConvertActivities, createRecordActivities, jobFileRecords, type ConvertActivities } from '../../activities/index.js';
import type { ConvertInput } from '../../workflows/definitions.js';
import { statusQuery, cancelSignal } from '../../workflows/definitions.js';
import { TASK_QUEUES } from '../../src/names.js';
import { SEARCH_ATTRIBUTES } from '../../src/search-attributes.js';
import { openEmbeddedPostgres, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { createAccountWithKey } from '../../src/db/accounts.js';
import { assetKeysForConversion } from '../../src/db/assets.js';
import { insertQueuedConversion, findConversionById } from '../../src/db/conversions.js';
import { ConverterPool } from '../../src/convert/converter-pool.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { cancelConversionRun, startConversionWorkflow, workflowInputFor } from '../../src/conversions/workflow.js';
import { workflowBundle } from '../../src/worker/temporal-worker.js';
import type { FirstAttempts } from '../../src/webhooks/first-attempts.js';
import { testFirstAttempts } from '../support/first-attempts.js';
import { conversionInputKey } from '../../src/storage/keys.js';
import { newId } from '../../src/ids.js';
import type { ConversionOptions } from '../../src/model/conversion-options.js';
import { runEnding, timeSkippingEnvironment } from '../support/temporal.js';
import { tempDir } from '../support/temp.js';
import { identify, makeImage } from '../support/images.js';

const limits = { maxInputPixels: 50_000_000, maxOutputPixels: 50_000_000, avifEffort: 2, maxFrames: 1000 };
const runSettings = { heartbeatTimeoutSeconds: 10, timeLimitSeconds: 60 };
const SCHEDULE = [30, 120, 600];

describe('conversion workflow (time-skipping test server)', () => {
  let env: TestWorkflowEnvironment;
  let database: DatabaseHandle;
  let blobs: LocalBlobStore;
  let accountId: string;
  let converter: ConverterPool;
  /** No endpoint subscribes here; the deliveries are taken as the worker role takes them. */
  let deliveries: FirstAttempts;
  const dir = tempDir('wf');

  before(async () => {
    env = await timeSkippingEnvironment();
    database = await openEmbeddedPostgres(path.join(dir.path, 'db'));
    await migrateToLatest(database.db);
    blobs = new LocalBlobStore(path.join(dir.path, 'blobs'));
    accountId = (await createAccountWithKey(database.db, 'wf-tests')).account.id;
    converter = new ConverterPool({ size: 2, limits, memoryLimitBytes: 2 ** 30 });
    deliveries = testFirstAttempts(database.db, env.client, SCHEDULE);
  });

  after(async () => {
    await deliveries?.close(1000);
    await converter?.close();
    await env?.teardown();
    await database?.close();
    dir.remove();
  });

  async function newConversion(bytes: Buffer, options: ConversionOptions) {
    const id = newId('cnv');
    const inputKey = conversionInputKey(accountId, id);
    await blobs.write(inputKey, bytes);
    return insertQueuedConversion(database.db, { id, accountId, options, inputKey, filename: 'photo.jpg', bytes: bytes.length, contentType: 'image/jpeg' });
  }

  /** Runs `body` with Kiln's workers; `convert` replaces the real convert activity where a test injects a fault. */
  /** What the workers record with: this test's database, deliveries as workflows (no endpoint subscribes here). */
  function recording() {
    return { db: database.db, deliveries, defaultRetrySchedule: SCHEDULE, blobs };
  }

  /** The real convert activity, recording into this test's database. */
  function convertActivities(): ConvertActivities {
    return createConvertActivities({
      blobs,
      converter,
      record: conversionRecorder(recording()),
      // Sources are fetched by their own activity for a single conversion (test/api/sources.test.ts).
      fetchSource: () => Promise.reject(new Error('only job files are fetched by the convert activity')),
      jobs: jobFileRecords(recording()),
      watermarkKeys: (conversionId, ids) => assetKeysForConversion(database.db, conversionId, ids),
    });
  }

  async function withWorkers<T>(body: () => Promise<T>, convert: Pick<ConvertActivities, 'convertImage'> = convertActivities()): Promise<T> {
    const workflowWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.workflows,
      workflowBundle: await workflowBundle(),
      activities: createRecordActivities(recording()),
    });
    const convertWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.convert,
      activities: convert,
    });
    return workflowWorker.runUntil(convertWorker.runUntil(body()));
  }

  /** Runs the conversion's workflow with Kiln's workers (or a stand-in convert activity) to its end; answers its result. */
  function runToEnd(row: Parameters<typeof workflowInputFor>[0], convert?: Parameters<typeof withWorkers>[1]) {
    return withWorkers(
      () =>
        env.client.workflow.execute('conversionWorkflow', {
          workflowId: row.workflow_id,
          taskQueue: TASK_QUEUES.workflows,
          args: [workflowInputFor(row, runSettings)],
        }),
      convert,
    );
  }

  test('converts a JPEG to WebP, records the result and publishes events', async () => {
    const row = await newConversion(await makeImage(640, 480), { output_format: 'webp', width: 320 });
    const result = await withWorkers(() =>
      env.client.workflow.execute('conversionWorkflow', {
        workflowId: row.workflow_id,
        taskQueue: TASK_QUEUES.workflows,
        args: [workflowInputFor(row, runSettings)],
      }),
    );
    assert.deepEqual(result, { status: 'succeeded' });
    const done = await findConversionById(database.db, row.id);
    assert.equal(done?.status, 'succeeded');
    assert.equal(done?.attempts, 1);
    assert.ok(done?.output_key);
    const decoded = await identify(await blobs.read(done.output_key));
    assert.deepEqual(decoded, { format: 'webp', width: 320, height: 240 });
    const events = await database.db.selectFrom('events').select('type').where('subject_id', '=', row.id).orderBy('id').execute();
    assert.deepEqual(
      events.map((e) => e.type),
      ['conversion.started', 'conversion.completed'],
    );
  });

  test('a convert worker older than the workflow (mid-upgrade), which records nothing, still leaves the conversion recorded', async () => {
    const row = await newConversion(await makeImage(64, 48), { output_format: 'png' });
    const real = convertActivities();
    // What a worker from before the activity recorded anything does: it ignores the request to.
    const older = { convertImage: (input: ConvertInput) => real.convertImage({ ...input, record: undefined }) };
    const result = await runToEnd(row, older);
    assert.deepEqual(result, { status: 'succeeded' });
    const done = await findConversionById(database.db, row.id);
    assert.equal(done?.status, 'succeeded');
    assert.ok(done?.started_at);
    assert.deepEqual(await eventTypes(row.id), ['conversion.started', 'conversion.completed']);
  });

  test('a file that is not an image fails once with unsupported_input, without retries, and fails its run', async () => {
    const row = await newConversion(Buffer.from('this is plain text, not an image'), { output_format: 'png' });
    let calls = 0;
    const real = convertActivities();
    const counted = { convertImage: async (...args: Parameters<typeof real.convertImage>) => (calls++, real.convertImage(...args)) };
    const run = await withWorkers(async () => {
      await startConversionWorkflow(env.client, row, runSettings);
      return runEnding(env.client.workflow.getHandle(row.workflow_id));
    }, counted);
    // The Web UI shows the run Failed with the conversion's own error code, and the filter finds it.
    assert.equal(run.state, 'FAILED');
    assert.equal(run.failureType, 'unsupported_input');
    assert.equal(run.status, 'failed');
    assert.equal(calls, 1);
    const done = await findConversionById(database.db, row.id);
    assert.equal(done?.status, 'failed');
    assert.equal(done?.error_code, 'unsupported_input');
  });

  test('a run carries its account, conversion id, output format and status for the Web UI filter', async () => {
    const row = await newConversion(await makeImage(64, 64), { output_format: 'avif' });
    const attributes = await withWorkers(async () => {
      await startConversionWorkflow(env.client, row, runSettings);
      const handle = env.client.workflow.getHandle(row.workflow_id);
      assert.equal((await runEnding(handle)).state, 'COMPLETED');
      return (await handle.describe()).typedSearchAttributes;
    });
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.accountId), accountId);
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.conversionId), row.id);
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.outputFormat), 'avif');
    assert.equal(attributes.get(SEARCH_ATTRIBUTES.status), 'succeeded');
  });

  test('a transient fault is retried and the conversion still succeeds', async () => {
    const row = await newConversion(await makeImage(200, 100), { output_format: 'png' });
    const real = convertActivities();
    let calls = 0;
    // Injected fault: the first attempt throws a retryable error, as a lost blob-store connection would.
    const flaky = {
      convertImage: async (...args: Parameters<typeof real.convertImage>) => {
        calls++;
        if (calls === 1) throw ApplicationFailure.retryable('blob store connection reset', 'io_error');
        return real.convertImage(...args);
      },
    };
    const result = await runToEnd(row, flaky);
    assert.deepEqual(result, { status: 'succeeded' });
    assert.equal(calls, 2);
    const done = await findConversionById(database.db, row.id);
    assert.equal(done?.attempts, 2);
  });

  /** A stand-in for a slow encode: it records the start and heartbeats until cancelled, as the real activity does. */
  async function slowConvert() {
    let started!: () => void;
    const activityStarted = new Promise<void>((resolve) => (started = resolve));
    const { Context } = await import('@temporalio/activity');
    const record = conversionRecorder(recording());
    const activities = {
      convertImage: async (input: ConvertInput): Promise<never> => {
        if (input.record) await record.started(input.conversionId);
        started();
        const context = Context.current();
        for (;;) {
          context.heartbeat();
          await context.sleep(200);
        }
      },
    };
    return { activityStarted, activities: activities as never };
  }

  async function eventTypes(conversionId: string): Promise<string[]> {
    const events = await database.db.selectFrom('events').select('type').where('subject_id', '=', conversionId).orderBy('id').execute();
    return events.map((e) => e.type);
  }

  test('the cancel signal ends a running conversion as cancelled', async () => {
    const row = await newConversion(await makeImage(200, 100), { output_format: 'png' });
    const slow = await slowConvert();
    const run = await withWorkers(async () => {
      await startConversionWorkflow(env.client, row, runSettings);
      const handle = env.client.workflow.getHandle(row.workflow_id);
      await slow.activityStarted;
      assert.equal(await handle.query(statusQuery), 'running');
      await handle.signal(cancelSignal);
      return runEnding(handle);
    }, slow.activities);
    // A signal cannot make a run Canceled; it completes, and KilnStatus says what happened.
    assert.deepEqual([run.state, run.result, run.status], ['COMPLETED', { status: 'cancelled' }, 'cancelled']);
    assert.equal((await findConversionById(database.db, row.id))?.status, 'cancelled');
    assert.deepEqual(await eventTypes(row.id), ['conversion.started', 'conversion.cancelled']);
  });

  test("the API's cancel is the run's answer: claimed, the work stops and the run ends Canceled", async () => {
    const row = await newConversion(await makeImage(200, 100), { output_format: 'png' });
    const slow = await slowConvert();
    const run = await withWorkers(async () => {
      await startConversionWorkflow(env.client, row, runSettings);
      await slow.activityStarted;
      assert.deepEqual(await cancelConversionRun(env.client, row.id), { kind: 'cancelled' });
      return runEnding(env.client.workflow.getHandle(row.workflow_id));
    }, slow.activities);
    assert.deepEqual([run.state, run.status], ['CANCELLED', 'cancelled']);
    assert.equal((await findConversionById(database.db, row.id))?.status, 'cancelled');
    assert.deepEqual(await eventTypes(row.id), ['conversion.started', 'conversion.cancelled']);
  });

  test("the Web UI's cancellation request alone ends the run Canceled and records the cancellation", async () => {
    const row = await newConversion(await makeImage(200, 100), { output_format: 'png' });
    const slow = await slowConvert();
    const run = await withWorkers(async () => {
      await startConversionWorkflow(env.client, row, runSettings);
      await slow.activityStarted;
      await env.client.workflow.getHandle(row.workflow_id).cancel();
      return runEnding(env.client.workflow.getHandle(row.workflow_id));
    }, slow.activities);
    assert.deepEqual([run.state, run.status], ['CANCELLED', 'cancelled']);
    assert.equal((await findConversionById(database.db, row.id))?.status, 'cancelled');
    assert.deepEqual(await eventTypes(row.id), ['conversion.started', 'conversion.cancelled']);
  });

  test('a cancel that finds the conversion succeeded is answered so, and changes nothing', async () => {
    const row = await newConversion(await makeImage(200, 100), { output_format: 'png' });
    await runToEnd(row, convertActivities());
    assert.deepEqual(await cancelConversionRun(env.client, row.id), { kind: 'no-run' }, 'a closed run takes no update');
    const done = await findConversionById(database.db, row.id);
    assert.equal(done?.status, 'succeeded');
    assert.ok(await blobs.size(done.output_key!), 'the output is kept');
  });
});
