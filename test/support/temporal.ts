import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServerExecutable, testServerExecutable } from '../../tools/temporal-toolchain.js';
import { withExplainedDownload } from '../../src/temporal/temporal-binaries.js';
import { installTemporalRuntime } from '../../src/temporal/connection.js';
import { loadConfig } from '../../src/config.js';
import { setLogLevel } from '../../src/log.js';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { JobChunkInput, JobChunkResult } from '../../workflows/definitions.js';
import { SEARCH_ATTRIBUTES } from '../../src/search-attributes.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { FAIRNESS_DYNAMIC_CONFIG } from '../../src/temporal/dev-server.js';

/** Logging and Temporal's runtime at the levels the test run asks for (KILN_LOG_LEVEL, KILN_TEMPORAL_LOG_LEVEL; see scripts/run-tests.ts). */
export function installTestRuntime(): void {
  const { logLevel, temporalLogLevel } = loadConfig();
  setLogLevel(logLevel);
  installTemporalRuntime(temporalLogLevel);
}

/** Temporal's Java time-skipping test server (built by the toolchain from Maven Central), with Kiln's search attributes, which its workflows set. */
export async function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const executable = await testServerExecutable();
  const env = await withExplainedDownload('Temporal test server', executable, () => TestWorkflowEnvironment.createTimeSkipping({ server: { executable } }));
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

/** A real Temporal dev server (the Temporal CLI) on a free port, in memory, configured as `kiln dev` runs it. */
export async function devServerEnvironment(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const executable = await devServerExecutable();
  const extraArgs = FAIRNESS_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]);
  // Kiln's workers register its search attributes themselves, as in production.
  return withExplainedDownload('Temporal CLI', executable, () => TestWorkflowEnvironment.createLocal({ server: { executable, ip: '127.0.0.1', extraArgs } }));
}

export interface RunEnding {
  /** The close state the Web UI shows: COMPLETED, FAILED, CANCELLED, … */
  state: string;
  /** The failure's type when the run failed (a Kiln error code or error class). */
  failureType: string | undefined;
  /** The run's KilnStatus search attribute. */
  status: string | undefined;
  result: unknown;
}

/** Waits for a run to close and reads how it ended, as the Web UI and its filters see it. */
export async function runEnding(handle: WorkflowHandle): Promise<RunEnding> {
  let result: unknown;
  let failureType: string | undefined;
  try {
    result = await handle.result();
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    failureType = (error.cause instanceof ApplicationFailure ? error.cause.type : error.cause?.name) ?? undefined;
  }
  const description = await handle.describe();
  return { state: description.status.name, failureType, status: description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status), result };
}

/** Milliseconds since the epoch of a workflow history event's `eventTime`. */
export function historyEventMs(time: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
}

/**
 * The files a job's run converted in chunks, by index and sorted: each completed
 * `convertJobFiles` took `done` files from its first. A file taken by two chunks shows twice;
 * a job whose every file was converted once answers 0…total-1.
 */
export async function filesTakenByChunks(handle: WorkflowHandle): Promise<number[]> {
  const { events } = await handle.fetchHistory();
  const inputs = new Map<string, JobChunkInput>();
  const taken: number[] = [];
  for (const event of events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'convertJobFiles') {
      inputs.set(String(event.eventId), defaultPayloadConverter.fromPayload<JobChunkInput>(scheduled.input!.payloads![0]!));
    }
    const completed = event.activityTaskCompletedEventAttributes;
    const input = completed && inputs.get(String(completed.scheduledEventId));
    if (input) {
      const { done } = defaultPayloadConverter.fromPayload<JobChunkResult>(completed.result!.payloads![0]!);
      for (let i = 0; i < done; i++) taken.push(input.fromIndex + i);
    }
  }
  return taken.sort((a, b) => a - b);
}
