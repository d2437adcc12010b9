import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ConversionOptions } from '../src/convert/options.js';

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
}

export type ConversionPhase = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface ConversionWorkflowResult {
  status: Exclude<ConversionPhase, 'queued' | 'running'>;
  error?: { code: string; message: string };
}

export const cancelSignal = defineSignal('cancel');
export const statusQuery = defineQuery<ConversionPhase>('status');

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
}

export type DeliveryOutcome = 'succeeded' | 'failed' | 'cancelled';
export type DeliveryPhase = 'pending' | DeliveryOutcome;

/** Makes one immediate attempt (trigger `manual`) beside whatever retries are pending. */
export const redeliverSignal = defineSignal('redeliver');
export const deliveryStatusQuery = defineQuery<DeliveryPhase>('status');
