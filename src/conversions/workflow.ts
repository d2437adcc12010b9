import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { cancelRun, type CancelAnswer } from '../temporal/cancel-run.js';
import type { KilnConfig } from '../config.js';
import type { Conversion } from '../db/schema.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { outputFilename } from '../model/formats.js';
import { conversionOutputKey } from '../storage/keys.js';
import { cancelUpdate, type ConversionRunSettings, type ConversionWorkflowInput, type WorkflowOf } from '../../workflows/definitions.js';
import { conversionWorkflowId, TASK_QUEUES } from '../names.js';
import { conversionStartAttributes } from '../search-attributes.js';
import { accountPriority } from '../fairness.js';

export function conversionRunSettings(config: KilnConfig): ConversionRunSettings {
  return {
    heartbeatTimeoutSeconds: config.convertHeartbeatTimeoutSeconds,
    timeLimitSeconds: config.convertTimeLimitSeconds,
    sourceTimeoutSeconds: config.sourceTimeoutSeconds,
  };
}

export function workflowInputFor(row: Conversion, settings: ConversionRunSettings): ConversionWorkflowInput {
  const options = row.options as ConversionOptions;
  return {
    conversionId: row.id,
    inputKey: row.input_key,
    outputKey: conversionOutputKey(row.account_id, row.id, options.output_format),
    outputFilename: outputFilename(row.input_filename, options.output_format),
    options,
    heartbeatTimeoutSeconds: settings.heartbeatTimeoutSeconds,
    timeLimitSeconds: settings.timeLimitSeconds,
    ...(row.source_url ? { sourceUrl: row.source_url, sourceTimeoutSeconds: settings.sourceTimeoutSeconds } : {}),
  };
}

/** Starts the conversion's workflow; starting one that already exists is a no-op, so callers may retry. */
export async function startConversionWorkflow(client: Client, row: Conversion, settings: ConversionRunSettings): Promise<void> {
  try {
    const input = workflowInputFor(row, settings);
    await client.workflow.start<WorkflowOf<'conversionWorkflow'>>('conversionWorkflow', {
      workflowId: conversionWorkflowId(row.id),
      taskQueue: TASK_QUEUES.workflows,
      args: [input],
      typedSearchAttributes: conversionStartAttributes(row.account_id, row.id, input.options.output_format),
      priority: accountPriority(row.account_id),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/** Asks the conversion's run to cancel; answers what it said (see cancelRun). */
export function cancelConversionRun(client: Client, conversionId: string): Promise<CancelAnswer> {
  return cancelRun(client, conversionWorkflowId(conversionId), cancelUpdate);
}
