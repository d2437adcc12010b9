import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities, setHandler, TimeoutFailure } from '@temporalio/workflow';
import type { ConvertActivities } from '../activities/convert.js';
import type { RecordActivities } from '../activities/record.js';
import {
  cancelSignal,
  statusQuery,
  TASK_QUEUES,
  type ConversionPhase,
  type ConversionWorkflowInput,
  type ConversionWorkflowResult,
  BOOKKEEPING_ACTIVITY_OPTIONS,
} from './definitions.js';

const record = proxyActivities<RecordActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** What conversions had before the limit was configurable: the old activity timeout. */
const LEGACY_TIME_LIMIT_SECONDS = 15 * 60;

/** A conversion's failure as Kiln reports it: the activity's own error code, or a generic one. */
function describeFailure(error: unknown): { code: string; message: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure && cause.type) return { code: cause.type, message: cause.message };
  if (cause instanceof TimeoutFailure) return { code: 'timeout', message: 'the conversion did not finish in time' };
  return { code: 'conversion_error', message: cause instanceof Error ? cause.message : 'the conversion failed' };
}

export async function conversionWorkflow(input: ConversionWorkflowInput): Promise<ConversionWorkflowResult> {
  const timeLimitSeconds = input.timeLimitSeconds ?? LEGACY_TIME_LIMIT_SECONDS;
  const { convertImage } = proxyActivities<ConvertActivities>({
    taskQueue: TASK_QUEUES.convert,
    // The converter stops the work at the limit itself (non-retryable); this only catches a worker that hung.
    startToCloseTimeout: `${timeLimitSeconds + 30} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
  });

  let phase: ConversionPhase = 'queued';
  const work = new CancellationScope();
  setHandler(cancelSignal, () => work.cancel());
  setHandler(statusQuery, () => phase);

  try {
    await work.run(async () => {
      await record.recordConversionStarted(input.conversionId);
      phase = 'running';
      const result = await convertImage({
        conversionId: input.conversionId,
        inputKey: input.inputKey,
        outputKey: input.outputKey,
        options: input.options,
        timeLimitSeconds,
      });
      await record.recordConversionSucceeded(input.conversionId, input.outputFilename, result);
    });
    phase = 'succeeded';
    return { status: 'succeeded' };
  } catch (error) {
    // Cancellation comes from the `cancel` signal or from cancelling the workflow itself (e.g. in the Web UI).
    if (isCancellation(error)) {
      await CancellationScope.nonCancellable(() => record.recordConversionCancelled(input.conversionId));
      phase = 'cancelled';
      return { status: 'cancelled' };
    }
    const failure = describeFailure(error);
    await record.recordConversionFailed(input.conversionId, failure);
    phase = 'failed';
    return { status: 'failed', error: failure };
  }
}
