import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ConvertActivities } from '../activities/convert.js';
import type { RecordActivities } from '../activities/record.js';
import type { SourceActivities } from '../activities/source.js';
import { TASK_QUEUES } from '../src/names.js';
import { SEARCH_ATTRIBUTES } from '../src/search-attributes.js';
import { allOutputKeys } from '../src/storage/keys.js';
import {
  cancelSignal,
  cancelUpdate,
  CANCEL_REFUSED,
  statusQuery,
  type ConversionPhase,
  type ConversionWorkflowInput,
  type ConversionWorkflowResult,
  BOOKKEEPING_ACTIVITY_OPTIONS,
} from './definitions.js';

/**
 * The convert activity records the conversion's start and success itself; the workflow's
 * own database writes (a failure, a cancellation) run as local activities, in the
 * workflow worker within the workflow task. Runs started before either change replay with
 * the activities they recorded.
 */
const localRecord = proxyLocalActivities<RecordActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);
const remoteRecord = proxyActivities<RecordActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** What conversions had before the limit was configurable: the old activity timeout. */
const LEGACY_TIME_LIMIT_SECONDS = 15 * 60;

/** How long a run cancelled by the `cancel` update waits for the API's cancellation request, to end Canceled. */
const CANCEL_REQUEST_WAIT = '30 seconds';

/** A conversion's failure as Kiln reports it: the activity's own error code, or a generic one. */
function describeFailure(error: unknown): { code: string; message: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure && cause.type) return { code: cause.type, message: cause.message };
  if (cause instanceof TimeoutFailure) return { code: 'timeout', message: 'the conversion did not finish in time' };
  return { code: 'conversion_error', message: cause instanceof Error ? cause.message : 'the conversion failed' };
}

/**
 * Converts one upload. The run ends the way the conversion did, so the Web UI tells the
 * truth: Completed, Failed (with the conversion's error code as the failure type), or
 * Canceled when its cancellation was requested (the API's cancel, or the Web UI's).
 * `KilnStatus` follows the API's status throughout.
 */
export async function conversionWorkflow(input: ConversionWorkflowInput): Promise<ConversionWorkflowResult> {
  const timeLimitSeconds = input.timeLimitSeconds ?? LEGACY_TIME_LIMIT_SECONDS;

  // Runs started before Kiln kept run states truthful replay as they were recorded.
  const truthful = patched('truthful-run-state');
  const record = patched('local-bookkeeping') ? localRecord : remoteRecord;
  // A conversion costs two workflow tasks and one activity, with no local activity on the way to success.
  const convertRecords = patched('convert-records-itself');
  // Cancelling by the `cancel` update, whose answer the API gives (runs started before it take the cancel request alone).
  const cancelByUpdate = patched('cancel-by-update');
  // An activity may wait for a converter while another conversion runs (a worker takes two per converter).
  const longestWaitSeconds = convertRecords ? timeLimitSeconds : 0;
  const { convertImage } = proxyActivities<ConvertActivities>({
    taskQueue: TASK_QUEUES.convert,
    // The converter stops the work at the limit itself (non-retryable); this only catches a worker that hung.
    startToCloseTimeout: `${longestWaitSeconds + timeLimitSeconds + 30} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
  });
  // A source fetch waits on the network: retried on the policy below while the source may yet answer
  // (no answer, a 5xx, a timeout); its other failures are final (non-retryable from the activity).
  const { fetchConversionSource } = proxyActivities<SourceActivities>({
    startToCloseTimeout: `${(input.sourceTimeoutSeconds ?? 30) + 30} seconds`,
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 4 },
  });
  let phase: ConversionPhase = 'queued';
  const enter = (next: ConversionPhase): void => {
    phase = next;
    if (truthful) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: next }]);
  };
  const work = new CancellationScope();
  setHandler(cancelSignal, () => work.cancel());
  setHandler(statusQuery, () => phase);

  // Every key an attempt may have written: a cancelled conversion keeps none of them.
  const outputKeys = allOutputKeys(input.outputKey, input.options.outputs);
  let claimedByUpdate = false;
  if (cancelByUpdate) {
    setHandler(
      cancelUpdate,
      async () => {
        // The same compare-and-set on the row the convert activity's success record makes: exactly one wins.
        const end = await record.recordConversionCancelled(input.conversionId, outputKeys);
        if (end === 'cancelled') {
          claimedByUpdate = true;
          work.cancel();
        }
        return end ?? 'cancelled';
      },
      {
        validator: () => {
          if (phase === 'succeeded' || phase === 'failed' || phase === 'cancelled') {
            throw ApplicationFailure.create({ type: CANCEL_REFUSED, message: `the conversion already ended as ${phase}` });
          }
        },
      },
    );
  }

  try {
    const recorded = await work.run(async () => {
      if (!convertRecords) await record.recordConversionStarted(input.conversionId);
      enter('running');
      // Only conversions made from a URL have a source: runs of uploads (and every run started before sources existed) skip this.
      if (input.sourceUrl) await fetchConversionSource({ conversionId: input.conversionId, sourceUrl: input.sourceUrl, inputKey: input.inputKey });
      const result = await convertImage({
        conversionId: input.conversionId,
        inputKey: input.inputKey,
        outputKey: input.outputKey,
        options: input.options,
        timeLimitSeconds,
        ...(convertRecords ? { record: { outputFilename: input.outputFilename } } : {}),
      });
      // A convert worker older than the workflow (mid-upgrade) records nothing: then the workflow does.
      if (convertRecords && !result.recorded) await record.recordConversionStarted(input.conversionId);
      // How the record ended it (runs from before records answered have none).
      return !convertRecords || !result.recorded ? await record.recordConversionSucceeded(input.conversionId, input.outputFilename, result) : result.ended;
    });
    // A cancellation claimed the row while the output was being recorded: it wins, and the output is gone.
    if (recorded === 'cancelled') return await cancelled(new CancelledFailure('the conversion was cancelled as its output was recorded'));
    enter('succeeded');
    return { status: 'succeeded' };
  } catch (error) {
    if (isCancellation(error) || claimedByUpdate) return await cancelled(error);
    const failure = describeFailure(error);
    // A cancellation that claimed the row first wins over the failure (runs before the update record no answer here).
    if ((await record.recordConversionFailed(input.conversionId, failure)) === 'cancelled') return await cancelled(error);
    enter('failed');
    if (truthful) throw ApplicationFailure.nonRetryable(failure.message, failure.code);
    return { status: 'failed', error: failure };
  } finally {
    // A `cancel` update still running (its record under way) answers before the run ends; not
    // cancellable, so a cancellation request changes nothing about how the run ends here.
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  }

  /** Records the cancellation (its outputs deleted) and ends the run the way it was asked to. */
  async function cancelled(error: unknown): Promise<ConversionWorkflowResult> {
    await CancellationScope.nonCancellable(() =>
      cancelByUpdate ? record.recordConversionCancelled(input.conversionId, outputKeys) : record.recordConversionCancelled(input.conversionId),
    );
    enter('cancelled');
    // A cancellation request ends the run Canceled; the `cancel` signal alone cannot, so it completes.
    if (truthful && CancellationScope.current().consideredCancelled) throw isCancellation(error) ? error : new CancelledFailure('the conversion was cancelled');
    // Cancelled by the update: the API requests the run's cancellation next, which ends it Canceled.
    if (cancelByUpdate) await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    if (claimedByUpdate) await CancellationScope.cancellable(() => sleep(CANCEL_REQUEST_WAIT));
    return { status: 'cancelled' };
  }
}
