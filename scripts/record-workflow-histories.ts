/**
 * Records the histories of runs made by the workflow code of an earlier commit, as fixtures
 * for test/workflows/replay.test.ts: every run such code started may still be in flight
 * when a deployment moves on, and today's code must replay it exactly.
 *
 *   node --import tsx scripts/record-workflow-histories.ts <commit>
 *
 * The commit's workflows (and the modules they import) are taken from git into
 * .replay-src/<commit>/, bundled with today's SDK, and run on Temporal's time-skipping test
 * server against stand-in activities that answer as the real ones would (the history keeps
 * what they answered; replay never calls them). Each scenario's history lands in
 * test/fixtures/histories/<commit>-<scenario>.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { projectRoot } from '../src/paths.js';
import { timeSkippingEnvironment } from '../test/support/temporal.js';
import { devServerExecutable } from '../tools/temporal-toolchain.js';

const commit = process.argv[2];
if (!commit || !/^[0-9a-f]{7,40}$/.test(commit)) throw new Error('usage: record-workflow-histories.ts <commit>');

const sourceDir = path.join(projectRoot, '.replay-src', commit);
const fixturesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');
rmSync(sourceDir, { recursive: true, force: true });
mkdirSync(sourceDir, { recursive: true });
// The sources outgrew execFileSync's default 1 MiB of output.
const archive = execFileSync('git', ['archive', commit, 'workflows', 'src', 'activities'], { cwd: projectRoot, maxBuffer: 256 * 2 ** 20 });
execFileSync('tar', ['-x', '-C', sourceDir], { input: archive });
mkdirSync(fixturesDir, { recursive: true });

const { code } = await bundleWorkflowCode({ workflowsPath: path.join(sourceDir, 'workflows', 'index.ts'), logger: new DefaultLogger('WARN') });
const env = await timeSkippingEnvironment();

/** How many times each delivery's stand-in attempt has run. */
const deliveryCalls = new Map<string, number>();
/** Delivery ids name their scenario: how many scheduled attempts fail before one delivers (`all` never does). */
function failuresFor(deliveryId: string): number {
  const match = /^dlv_fail(\d+|all)_/.exec(deliveryId);
  if (!match) return 0;
  return match[1] === 'all' ? Infinity : Number(match[1]);
}

/** Conversions whose stand-in encode has begun, so a scenario cancels only once it is under way. */
const encoding = new Set<string>();

/** A job's files by index: a stand-in for the rows its jobFiles activity reads; ids name their scenario as conversions' do. */
const jobFileIds = new Map<string, string[]>();
const recordActivities = {
  recordConversionStarted: async () => {},
  recordConversionSucceeded: async () => {},
  recordConversionFailed: async () => {},
  recordConversionCancelled: async () => {},
  jobStarted: () => Promise.resolve('running'),
  jobFiles: (jobId: string, fromIndex: number, limit: number) =>
    Promise.resolve(
      (jobFileIds.get(jobId) ?? []).slice(fromIndex, fromIndex + limit).map((conversionId, offset) => ({
        index: fromIndex + offset,
        conversionId,
        filename: `photo-${fromIndex + offset}.jpg`,
        input: conversionInput(conversionId),
        outcome: null,
      })),
    ),
  jobProgress: async () => {},
  jobFinished: async () => {},
  // Jobs in chunks (from the first commit that has them): the job ends as its files did.
  jobEnded: (jobId: string, cancelled: boolean) => {
    const files = jobFileIds.get(jobId) ?? [];
    const failed = cancelled ? 0 : files.filter((id) => id.startsWith('cnv_bad')).length;
    const counts = {
      total: files.length,
      queued: 0,
      running: 0,
      succeeded: cancelled ? 0 : files.length - failed,
      failed,
      cancelled: cancelled ? files.length : 0,
    };
    return Promise.resolve({ status: cancelled ? 'cancelled' : failed > 0 ? 'failed' : 'succeeded', counts });
  },
  // Sources (from the first commit that fetches them): a refused URL fails for good, any other is fetched.
  fetchConversionSource: (input: { conversionId: string }) =>
    input.conversionId.startsWith('cnv_badsrc')
      ? Promise.reject(ApplicationFailure.create({ type: 'source_http_error', message: 'example.test answered 404', nonRetryable: true }))
      : Promise.resolve({ bytes: 1234 }),
};
const convertActivities = {
  async convertImage(input: { conversionId: string; outputKey: string }) {
    const context = Context.current();
    if (input.conversionId.startsWith('cnv_bad')) throw ApplicationFailure.create({ type: 'unsupported_input', message: 'not an image', nonRetryable: true });
    if (input.conversionId.startsWith('cnv_slow')) {
      encoding.add(input.conversionId);
      for (;;) {
        context.heartbeat();
        await context.sleep(100);
      }
    }
    return {
      input: { format: 'jpeg', width: 640, height: 480, bytes: 1234 },
      output: { key: input.outputKey, format: 'webp', width: 320, height: 240, bytes: 321 },
      attempt: context.info.attempt,
    };
  },
};
const convertJobActivities = {
  async convertJobFiles(input: { jobId: string; fromIndex: number; count: number }) {
    const context = Context.current();
    const result = { done: 0, succeeded: 0, others: [] as unknown[] };
    for (const conversionId of (jobFileIds.get(input.jobId) ?? []).slice(input.fromIndex, input.fromIndex + input.count)) {
      const index = input.fromIndex + result.done;
      if (conversionId.startsWith('cnv_slow')) {
        encoding.add(conversionId);
        for (;;) {
          context.heartbeat();
          await context.sleep(100);
        }
      }
      if (conversionId.startsWith('cnv_bad')) {
        result.others.push({
          conversionId,
          index,
          filename: `photo-${index}.jpg`,
          status: 'failed',
          error: { code: 'unsupported_input', message: 'not an image' },
        });
      } else result.succeeded++;
      result.done++;
    }
    return result;
  },
};
const deliverActivities = {
  deliverWebhook(input: { deliveryId: string; trigger: string; answerRetries?: boolean }) {
    const calls = (deliveryCalls.get(input.deliveryId) ?? 0) + 1;
    deliveryCalls.set(input.deliveryId, calls);
    if (input.trigger === 'manual' || calls > failuresFor(input.deliveryId)) return Promise.resolve({ delivered: true, attempt: calls, statusCode: 200 });
    if (input.answerRetries) return Promise.resolve({ delivered: false, retryInSeconds: 30, error: 'the endpoint answered 500' });
    return Promise.reject(ApplicationFailure.create({ message: 'the endpoint answered 500', type: 'http_status', nextRetryDelay: '30 seconds' }));
  },
  recordDeliveryOutcome: async () => {},
};

const workers = await Promise.all([
  Worker.create({ connection: env.nativeConnection, taskQueue: 'kiln', workflowBundle: { code }, activities: recordActivities }),
  Worker.create({ connection: env.nativeConnection, taskQueue: 'kiln-convert', activities: convertActivities }),
  Worker.create({ connection: env.nativeConnection, taskQueue: 'kiln-convert-jobs', activities: convertJobActivities }),
  Worker.create({ connection: env.nativeConnection, taskQueue: 'kiln-deliver', workflowBundle: { code }, activities: deliverActivities }),
]);
const running = workers.map((worker) => worker.run());

const cli = (await devServerExecutable()) as { type: 'existing-path'; path: string };

/** The run's history as the Temporal CLI prints it (the JSON `Worker.runReplayHistory` reads). */
async function save(name: string, handle: WorkflowHandle, runId?: string): Promise<void> {
  await handle.result().catch(() => undefined);
  const run = runId ? ['--run-id', runId] : [];
  const json = execFileSync(cli.path, ['workflow', 'show', '--address', env.address, '--workflow-id', handle.workflowId, ...run, '--output', 'json'], {
    encoding: 'utf8',
  });
  const events = (JSON.parse(json) as { events: unknown[] }).events.length;
  writeFileSync(path.join(fixturesDir, `${commit}-${name}.json`), json);
  console.log(`recorded ${commit}-${name} (${events} events)`);
}

function conversionInput(conversionId: string) {
  return {
    conversionId,
    inputKey: `conversions/${conversionId}/input`,
    outputKey: `conversions/${conversionId}/output.webp`,
    outputFilename: 'photo.webp',
    options: { output_format: 'webp', width: 320 },
    heartbeatTimeoutSeconds: 10,
    timeLimitSeconds: 60,
  };
}

const startConversion = (id: string) =>
  env.client.workflow.start('conversionWorkflow', { workflowId: `conversion-${id}`, taskQueue: 'kiln', args: [conversionInput(id)] });
const startDelivery = (id: string, retrySchedule = [30, 120, 600], resume: { attemptsMade?: number; nextAttemptInSeconds?: number } = {}) =>
  env.client.workflow.start('deliveryWorkflow', {
    workflowId: `delivery-${id}`,
    taskQueue: 'kiln-deliver',
    args: [{ deliveryId: id, retrySchedule, requestTimeoutSeconds: 10, runScheduled: true, ...resume }],
  });

await save('conversion-succeeded', await startConversion('cnv_ok_0000000000000000000000'));
await save('conversion-failed', await startConversion('cnv_bad_000000000000000000000'));
for (const [name, cancel] of [
  ['conversion-cancel-requested', (h: WorkflowHandle) => h.cancel()],
  ['conversion-cancel-signal', (h: WorkflowHandle) => h.signal('cancel')],
] as const) {
  const id = `cnv_slow_${name.length}_0000000000000000`;
  const handle = await startConversion(id);
  while (!encoding.has(id)) await new Promise((r) => setTimeout(r, 20));
  await cancel(handle);
  await save(name, handle);
}

await save('delivery-succeeded', await startDelivery('dlv_ok_00000000000000000000'));
await save('delivery-retried-then-succeeded', await startDelivery('dlv_fail2_000000000000000000'));
await save('delivery-failed', await startDelivery('dlv_failall_0000000000000000'));
// Its first attempt made (and failed) before the workflow started; code older than that input runs the whole schedule.
await save('delivery-after-first-attempt', await startDelivery('dlv_fail1_resumed_0000000000', [30, 120, 600], { attemptsMade: 1, nextAttemptInSeconds: 30 }));
/** A delivery whose first attempt failed, an hour from its next: what a signal then does is the scenario. */
async function waitingForRetry(id: string): Promise<WorkflowHandle> {
  const handle = await startDelivery(id, [3600]);
  while ((deliveryCalls.get(id) ?? 0) < 1) await new Promise((r) => setTimeout(r, 50));
  return handle;
}
const redelivered = await waitingForRetry('dlv_failall_redeliver_000000');
await redelivered.signal('redeliver');
await save('delivery-redelivered-during-retries', redelivered);
const cancelled = await waitingForRetry('dlv_failall_cancel_000000000');
await cancelled.signal('cancel');
await save('delivery-cancelled', cancelled);

// Conversions from a URL, from the first commit that fetches sources.
if (existsSync(path.join(sourceDir, 'activities', 'source.ts'))) {
  const fromSource = (id: string) =>
    env.client.workflow.start('conversionWorkflow', {
      workflowId: `conversion-${id}`,
      taskQueue: 'kiln',
      args: [{ ...conversionInput(id), sourceUrl: 'https://example.test/photo.jpg', sourceTimeoutSeconds: 30 }],
    });
  await save('source-fetched', await fromSource('cnv_ok_source_0000000000000000'));
  await save('source-failed', await fromSource('cnv_badsrc_00000000000000000000'));
}

// Jobs, from the first commit whose workflows have them.
if (existsSync(path.join(sourceDir, 'workflows', 'job.ts'))) {
  const startJob = (jobId: string, files: string[], extra: Record<string, unknown> = {}) => {
    jobFileIds.set(jobId, files);
    const run = { heartbeatTimeoutSeconds: 10, timeLimitSeconds: 60 };
    return env.client.workflow.start('jobWorkflow', {
      workflowId: `job-${jobId}`,
      taskQueue: 'kiln',
      args: [{ jobId, accountId: 'acc_replay', total: files.length, concurrency: 2, run, ...extra }],
    });
  };
  const ok = (job: string, n: number) => Array.from({ length: n }, (_, i) => `cnv_ok_${job}_${i}_000000000000`.slice(0, 30));
  await save('job-succeeded', await startJob('job_ok_0000000000000000000000', ok('a', 3)));
  await save('job-failed', await startJob('job_failed_0000000000000000000', [...ok('b', 2), 'cnv_bad_job_0000000000000000']));
  for (const [name, cancel] of [
    ['job-cancel-requested', (h: WorkflowHandle) => h.cancel()],
    ['job-cancel-signal', (h: WorkflowHandle) => h.signal('cancel')],
  ] as const) {
    const slow = [`cnv_slow_${name.length}_job_0000000000`, `cnv_slow_${name.length}_job_1111111111`];
    const handle = await startJob(`job_${name.length}_cancel_00000000000000`, [...slow, ...ok(`c${name.length}`, 2)]);
    while (!slow.every((id) => encoding.has(id))) await new Promise((r) => setTimeout(r, 20));
    await cancel(handle);
    await save(name, handle);
  }
  // Its first run: two files, then continue-as-new.
  const continued = await startJob('job_continued_00000000000000000', ok('d', 5), { filesPerRun: 2 });
  await save('job-continued-as-new', continued, continued.firstExecutionRunId);
}

workers.forEach((worker) => worker.shutdown());
await Promise.all(running);
await env.teardown();
rmSync(sourceDir, { recursive: true, force: true });
