/**
 * `npm run bench:temporal-floor`: what Temporal itself costs per workflow on this machine,
 * measured on a real dev server (SQLite file, Kiln's pragmas) with do-nothing activities,
 * so the figure is Temporal's alone: dev-server CPU and this process's CPU (client, worker,
 * workflow threads) per workflow, for workflows of several shapes. It shows the floor under
 * any design that makes one workflow per conversion or per delivery.
 * BENCH_WORKFLOWS (default 300) per shape, BENCH_PARALLEL (default 20) at once.
 */
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkerOptions } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { installTemporalRuntime } from '../src/temporal/connection.js';
import { registerSearchAttributes } from '../src/temporal/register-search-attributes.js';
import { SEARCH_ATTRIBUTES } from '../src/search-attributes.js';
import { tempDir } from '../test/support/temp.js';
import { benchDevServer } from './dev-server.js';
import { floorActivities } from './floor/activities.js';
import type { ShapeInput, shapedWorkflow } from './floor/workflows.js';
import { cpuByRole, ownUsage } from './process-usage.js';

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 300);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 20);
const here = path.dirname(fileURLToPath(import.meta.url));

interface Shape {
  label: string;
  input: ShapeInput;
  worker?: Partial<WorkerOptions>;
  startAttributes?: boolean;
}

const OTHER_QUEUE = 'floor-other';
const SHAPES: Shape[] = [
  { label: 'empty workflow', input: { localActivities: 0, remoteActivities: 0, upserts: 0 } },
  { label: '1 local activity', input: { localActivities: 1, remoteActivities: 0, upserts: 0 } },
  { label: '1 remote activity, same queue (eager dispatch possible)', input: { localActivities: 0, remoteActivities: 1, upserts: 0 } },
  { label: '1 remote activity, another queue', input: { localActivities: 0, remoteActivities: 1, remoteQueue: OTHER_QUEUE, upserts: 0 } },
  {
    label: "Kiln's conversion: 1 remote on kiln-convert, 4 attributes, 2 upserts",
    input: { localActivities: 0, remoteActivities: 1, remoteQueue: OTHER_QUEUE, upserts: 2 },
    startAttributes: true,
  },
  {
    label: "Kiln's conversion before: + 2 local activities",
    input: { localActivities: 2, remoteActivities: 1, remoteQueue: OTHER_QUEUE, upserts: 2 },
    startAttributes: true,
  },
  { label: 'a delivery as a workflow: 1 local activity, 1 upsert', input: { localActivities: 1, remoteActivities: 0, upserts: 1 }, startAttributes: true },
];

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  installTemporalRuntime('ERROR');
  const dir = tempDir('bench-floor');
  const config = loadConfig({ KILN_DATA_DIR: dir.path });
  const env = await benchDevServer(dir.path, config);
  await registerSearchAttributes(env.connection, 'default');
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(here, 'floor', 'workflows.ts'), logger: new DefaultLogger('WARN') });
  console.log(
    `${os.availableParallelism()} cores; ${WORKFLOWS} workflows per shape, ${PARALLEL} at once; dev server on SQLite (${config.temporalSqlitePragmas.join(', ')})`,
  );
  console.log('CPU per workflow: temporal = the dev server, node = this process (client, workers, workflow threads)');

  let round = 0;
  // BENCH_SHAPES=<substring>: only the shapes whose label contains it.
  for (const shape of SHAPES.filter((s) => s.label.includes(process.env.BENCH_SHAPES ?? ''))) {
    const taskQueue = `floor-${round++}`;
    const workers = [
      await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { code }, activities: floorActivities, ...shape.worker }),
      await Worker.create({ connection: env.nativeConnection, taskQueue: OTHER_QUEUE, activities: floorActivities }),
    ];
    const running = workers.map((w) => w.run());
    const ids = Array.from({ length: WORKFLOWS }, (_, i) => `floor-${taskQueue}-${i}`);
    // One untimed workflow first: the worker's start-up is not per-workflow cost.
    const run = (id: string) =>
      env.client.workflow.execute<typeof shapedWorkflow>('shapedWorkflow', {
        workflowId: id,
        taskQueue,
        args: [shape.input],
        typedSearchAttributes: shape.startAttributes
          ? [
              { key: SEARCH_ATTRIBUTES.accountId, value: 'acc_floor' },
              { key: SEARCH_ATTRIBUTES.conversionId, value: id },
              { key: SEARCH_ATTRIBUTES.outputFormat, value: 'webp' },
              { key: SEARCH_ATTRIBUTES.status, value: 'queued' },
            ]
          : undefined,
      });
    await run(`${taskQueue}-warm`);
    const before = ownUsage();
    const started = performance.now();
    await mapLimit(ids, PARALLEL, run);
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuByRole(before, ownUsage(), (u) => (u.pid === process.pid ? 'node' : u.command === 'temporal' ? 'temporal' : 'other'));
    const ms = (role: string) => ((cpu.get(role) ?? 0) / WORKFLOWS) * 1000;
    const events = (await env.client.workflow.getHandle(ids[0]!).fetchHistory()).events?.length ?? 0;
    console.log(
      [
        shape.label.padEnd(72),
        `${(WORKFLOWS / seconds).toFixed(0).padStart(4)} wf/s`,
        `temporal ${ms('temporal').toFixed(1).padStart(5)} ms`,
        `node ${ms('node').toFixed(1).padStart(5)} ms`,
        `${String(events).padStart(3)} history events`,
        `${((ms('temporal') / events) * 1000).toFixed(0).padStart(5)} µs temporal per event`,
      ].join('   '),
    );
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
  }
  await env.teardown();
  dir.remove();
}

await main();
