import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConversionOptions } from '../src/model/conversion-options.js';
import type { FileOutcome, JobCounts } from '../src/model/job-counts.js';
import type { WorkflowName } from '../src/names.js';

/** Database writes must not fail a workflow because Postgres blinked: retried without limit. */
export const BOOKKEEPING_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
} as const;

export interface ConversionWorkflowInput {
  conversionId: string;
  inputKey: string;
  outputKey: string;
  outputFilename: string;
  options: ConversionOptions;
  /** Seconds without a heartbeat before an attempt counts as lost (a dead worker). */
  heartbeatTimeoutSeconds: number;
  /** Seconds the image work may take; absent in workflows started before the limit existed. */
  timeLimitSeconds?: number;
  /** A URL the original is fetched from first (into inputKey); absent for an upload. */
  sourceUrl?: string;
  /** How long one fetch of sourceUrl may take (KILN_SOURCE_TIMEOUT_SECONDS). */
  sourceTimeoutSeconds?: number;
}

export type ConversionPhase = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface ConversionWorkflowResult {
  status: Exclude<ConversionPhase, 'queued' | 'running'>;
  error?: { code: string; message: string };
}

export const cancelSignal = defineSignal('cancel');
export const statusQuery = defineQuery<ConversionPhase>('status');

/**
 * Asks the run to cancel and answers how it ends: `cancelled` when it will end cancelled (its
 * work stops, no output is kept), or the end it already had (`succeeded`, `failed`). Refused
 * (the validator) once the run has decided how it ends. The API answers 202 or 409 from this,
 * so its answer is the run's, never a guess.
 */
export const cancelUpdate = defineUpdate<'cancelled' | 'succeeded' | 'failed'>('cancel');

/** The failure type with which a `cancel` update's validator refuses: the run had already decided how it ends. */
export const CANCEL_REFUSED = 'already_ended';

export interface DeliveryWorkflowInput {
  deliveryId: string;
  /** Seconds to wait after each failed attempt; one more attempt than entries. */
  retrySchedule: number[];
  requestTimeoutSeconds: number;
  /** False for a re-run of a closed delivery, which makes only the requested manual attempt. */
  runScheduled: boolean;
  /**
   * Scheduled attempts already made before the workflow started (the first attempt, made
   * by the worker that published the event); absent for none.
   */
  attemptsMade?: number;
  /** With `attemptsMade`: seconds until the next scheduled attempt is due. */
  nextAttemptInSeconds?: number;
  /**
   * Without `attemptsMade`: seconds until the first attempt's turn, which its target's
   * throttle gave it before the workflow started (the attempt then takes no other turn).
   */
  firstAttemptInSeconds?: number;
  /**
   * A manual attempt was requested as the previous run ended, after it had left its loop:
   * this run makes it first (with `runScheduled` false).
   */
  manualRequested?: boolean;
}

export type DeliveryOutcome = 'succeeded' | 'failed' | 'cancelled';
export type DeliveryPhase = 'pending' | DeliveryOutcome;

/** Makes one immediate attempt (trigger `manual`) beside whatever retries are pending. */
export const redeliverSignal = defineSignal('redeliver');
export const deliveryStatusQuery = defineQuery<DeliveryPhase>('status');

/** How a conversion's image work is run: chosen when it is submitted, carried to its workflow. */
export interface ConversionRunSettings {
  /** Seconds without a heartbeat before an attempt counts as lost (a dead worker). */
  heartbeatTimeoutSeconds: number;
  /** Seconds the image work may take before it is stopped (KILN_CONVERT_TIME_LIMIT_SECONDS). */
  timeLimitSeconds: number;
  /** Seconds one fetch of a source URL may take (KILN_SOURCE_TIMEOUT_SECONDS); absent in runs started before sources existed. */
  sourceTimeoutSeconds?: number;
}

/** A job so far: what its workflow carries across continue-as-new. */
export interface JobProgress {
  /** Files started (or found finished) so far: the index of the next file. */
  next: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** The first failed files, for `job.failed`; the rest are only counted. */
  failures: FileOutcome[];
  failuresOmitted: number;
  cancelRequested: boolean;
}

export interface JobWorkflowInput {
  jobId: string;
  accountId: string;
  total: number;
  /** Files converting at once at most. */
  concurrency: number;
  run: ConversionRunSettings;
  /** Files one run starts before it continues as new (default 500, or 10,000 in chunks). */
  filesPerRun?: number;
  /** Seconds of work after which a chunk takes no further file (default 2). */
  chunkSeconds?: number;
  /** The job so far, carried across continue-as-new; absent when the job begins. */
  carried?: JobProgress;
}

export type JobPhase = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobSnapshot {
  status: JobPhase;
  counts: JobCounts;
  /** Finished files as a whole percentage of all files. */
  progress: number;
}

/** Answers the job's status and counts, as its workflow sees them now. */
export const jobProgressQuery = defineQuery<JobSnapshot>('progress');

/**
 * Asks the job to cancel: accepted while the job has not decided how it ends, and then it ends
 * cancelled (files not started never start, those under way are cancelled, finished ones
 * stay); refused by the validator once it has. The API answers 202 or 409 from this.
 */
export const cancelJobUpdate = defineUpdate<'cancelled'>('cancel');

/** A group of a job's files that one convert activity converts in turn (read from the database, never carried here). */
export interface JobChunkInput {
  jobId: string;
  /** The index of the chunk's first file in the job, and how many files from it. */
  fromIndex: number;
  count: number;
  run: ConversionRunSettings;
  /** Tries a file gets (across the chunk's attempts) before it ends failed. */
  maxFileAttempts: number;
  /**
   * Seconds after which the chunk starts no further file and answers (it holds a worker slot
   * meanwhile): the job schedules the files it left as a chunk of their own.
   */
  maxSeconds: number;
}

/** How a chunk's files ended: how many it took (from its first), a count of those that succeeded, and each of the others. */
export interface JobChunkResult {
  done: number;
  succeeded: number;
  others: FileOutcome[];
}

/** What the convert activity is asked to do (keys, never bytes). */
export interface ConvertInput {
  conversionId: string;
  inputKey: string;
  outputKey: string;
  options: ConversionOptions;
  /** How long the image work may take before it is stopped as time_limit_exceeded. */
  timeLimitSeconds: number;
  /**
   * Present when this activity records the conversion's start and success itself (with
   * their events); absent for runs whose workflow records them around it.
   */
  record?: { outputFilename: string };
}

export interface ConvertResult {
  input: { format: string; width: number; height: number; bytes: number; pages?: number };
  output: { key: string; format: string; width: number; height: number; bytes: number; frames?: number };
  /** Every output, the first included, for a conversion that asked for several. */
  renditions?: RenditionFacts[];
  attempt: number;
  /** True when this activity recorded the conversion's start and success (asked to, by `record`). */
  recorded?: boolean;
  /** With `recorded`: how the record ended the conversion (`cancelled` when a cancellation claimed it first: the output is deleted). */
  ended?: 'succeeded' | 'failed' | 'cancelled';
}

export interface RenditionFacts {
  key: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  frames?: number;
}

/** What a retention run removed, by kind. */
export interface PurgeCounts {
  originals: number;
  outputs: number;
  event_payloads: number;
  attempt_previews: number;
}

/**
 * Each workflow's signature as its clients start it. Clients type their starts with this,
 * not with the workflow functions (so they need no workflow code); workflows/index.ts checks
 * that the workflows it exports are exactly these.
 */
export interface WorkflowSignatures {
  conversionWorkflow(input: ConversionWorkflowInput): Promise<ConversionWorkflowResult>;
  jobWorkflow(input: JobWorkflowInput): Promise<JobSnapshot>;
  deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryOutcome>;
  reconcileWorkflow(): Promise<number>;
  retentionWorkflow(): Promise<PurgeCounts>;
}

/** The type a client starts `name` with. */
export type WorkflowOf<Name extends WorkflowName> = WorkflowSignatures[Name];
