import { createHash } from 'node:crypto';
import path from 'node:path';
import { DefaultLogger, type NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import {
  createConvertActivities,
  createDeliverActivities,
  createReconcileActivities,
  createRecordActivities,
  createJobActivities,
  createSourceActivities,
  createRetentionActivities,
  conversionRecorder,
  jobFileRecords,
  type SourceDependencies,
  type DeliverDependencies,
  type RetentionPeriods,
} from '../../activities/index.js';
import type { ReconcileOptions } from '../temporal/reconcile.js';
import type { Client } from '@temporalio/client';
import type { DeliveryDispatch } from '../webhooks/dispatch.js';
import { TASK_QUEUES } from '../names.js';
import { registerSearchAttributes } from '../temporal/register-search-attributes.js';
import type { Database } from '../db/schema.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Converter } from '../convert/converter-pool.js';
import { assetKeysForConversion } from '../db/assets.js';
import { codeRoot, moduleExtension } from '../paths.js';
import { KILN_VERSION } from '../version.js';
import type { ConvertInput, JobChunkInput } from '../../workflows/definitions.js';

const workflowsPath = path.join(codeRoot, 'workflows', `index${moduleExtension}`);

let bundle: Promise<{ code: string }> | undefined;

/** Workflow code bundled once per process; every worker created here reuses it. */
export function workflowBundle(): Promise<WorkflowBundleOption & { code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }).then(({ code }) => ({ code }));
  return bundle;
}

/**
 * The build id the Web UI shows beside each poller: Kiln's version and a digest of the
 * workflow code, so two workers with the same id run the same workflow code.
 */
export async function workerBuildId(): Promise<string> {
  const { code } = await workflowBundle();
  return `kiln@${KILN_VERSION}+${createHash('sha256').update(code).digest('hex').slice(0, 12)}`;
}

export interface WorkerDependencies {
  connection: NativeConnection;
  namespace: string;
  db: Kysely<Database>;
  blobs: BlobStore;
  /** Runs the image work of kiln-convert activities; as many at once as `convertConcurrency`. */
  converter: Converter;
  convertConcurrency: number;
  /** For the reconcile schedule's workflow starts. */
  client: Client;
  /** Takes charge of the deliveries of the events the conversion workflow records. */
  deliveries: DeliveryDispatch;
  defaultRetrySchedule: number[];
  deliver: Omit<DeliverDependencies, 'db'>;
  /** What the reconcile schedule's activity looks for. */
  reconcile: ReconcileOptions;
  /** HTTP deliveries in flight at once; they wait on the network, not the CPU. */
  deliverConcurrency: number;
  /** How conversions made from a URL fetch it. */
  sources: Omit<SourceDependencies, 'events' | 'blobs'>;
  /** How long each kind of stored data is kept (the retention schedule's activity). */
  retention: RetentionPeriods;
  /** This process in the Web UI's list of pollers. */
  identity: string;
  /** How long a stopping worker lets running activities finish before cancelling them. */
  shutdownGraceSeconds: number;
}

/**
 * Kiln's workers: conversion workflows with their bookkeeping activities on `kiln`; sharp
 * on `kiln-convert` (single uploads) and `kiln-convert-jobs` (jobs' chunks of files), each
 * with two slots per converter (more would only queue work in memory and time it out);
 * delivery workflows and their HTTP attempts on
 * `kiln-deliver` with many slots, so a slow receiver never holds up a conversion.
 */
export async function createWorkers(deps: WorkerDependencies): Promise<Worker[]> {
  // Kiln's workflows set these; a namespace without them would fail every workflow task.
  await registerSearchAttributes(deps.client.connection, deps.namespace);
  const common = {
    connection: deps.connection,
    namespace: deps.namespace,
    identity: deps.identity,
    buildId: await workerBuildId(),
    shutdownGraceTime: `${deps.shutdownGraceSeconds} seconds`,
  };
  const record = { db: deps.db, deliveries: deps.deliveries, defaultRetrySchedule: deps.defaultRetrySchedule };
  const sources = createSourceActivities({ events: record, blobs: deps.blobs, ...deps.sources });
  const convert = createConvertActivities({
    blobs: deps.blobs,
    converter: deps.converter,
    fetchSource: (input) => sources.fetchConversionSource(input),
    record: conversionRecorder({ ...record, blobs: deps.blobs }),
    jobs: jobFileRecords(record),
    watermarkKeys: (conversionId, ids) => assetKeysForConversion(deps.db, conversionId, ids),
  });
  // Both queues' activities share the converters, which serve waiting work by account in turn.
  const convertSlots = {
    // One conversion waiting per converter: its reading, writing and recording overlap another's image work,
    // and a converter never waits on Temporal for its next task.
    maxConcurrentActivityTaskExecutions: deps.convertConcurrency * 2,
    // Heartbeats carry a cancel back to the activity: send them each second, not each
    // 0.8 × heartbeat timeout, so a cancel stops the image work within about a second.
    maxHeartbeatThrottleInterval: '1 second',
  };
  return Promise.all([
    Worker.create({
      ...common,
      taskQueue: TASK_QUEUES.workflows,
      workflowBundle: await workflowBundle(),
      activities: {
        ...createRecordActivities({ ...record, blobs: deps.blobs }),
        ...createJobActivities(record),
        ...sources,
        ...createReconcileActivities({ db: deps.db, temporal: deps.client, options: deps.reconcile }),
        ...createRetentionActivities({ db: deps.db, blobs: deps.blobs, periods: deps.retention }),
      },
    }),
    Worker.create({
      ...common,
      taskQueue: TASK_QUEUES.deliver,
      workflowBundle: await workflowBundle(),
      activities: createDeliverActivities({ db: deps.db, ...deps.deliver }),
      maxConcurrentActivityTaskExecutions: deps.deliverConcurrency,
    }),
    Worker.create({
      ...common,
      taskQueue: TASK_QUEUES.convert,
      activities: { convertImage: (input: ConvertInput) => convert.convertImage(input) },
      ...convertSlots,
    }),
    Worker.create({
      ...common,
      taskQueue: TASK_QUEUES.convertJobs,
      activities: { convertJobFiles: (input: JobChunkInput) => convert.convertJobFiles(input) },
      ...convertSlots,
    }),
  ]);
}

/** Runs the workers until `signal` aborts, then drains them. */
export async function runWorkers(workers: Worker[], signal: AbortSignal): Promise<void> {
  const onAbort = (): void => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
