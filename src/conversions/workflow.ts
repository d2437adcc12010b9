import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { KilnConfig } from '../config.js';
import type { Conversion } from '../db/schema.js';
import type { ConversionOptions } from '../convert/options.js';
import { outputFilename, EXTENSIONS, type OutputFormat } from '../convert/formats.js';
import type { ConversionWorkflowInput } from '../../workflows/definitions.js';
import type { conversionWorkflow } from '../../workflows/conversion.js';
import { conversionWorkflowId, TASK_QUEUES, type WorkflowName } from '../temporal/names.js';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes.js';

export function inputKeyFor(conversionId: string): string {
  return `conversions/${conversionId}/input`;
}

function outputKeyFor(conversionId: string, format: OutputFormat): string {
  return `conversions/${conversionId}/output.${EXTENSIONS[format]}`;
}

/** How a conversion's image work is run: chosen by whoever starts the workflow, carried in its input. */
export interface ConversionRunSettings {
  /** Seconds without a heartbeat before an attempt counts as lost (a dead worker). */
  heartbeatTimeoutSeconds: number;
  /** Seconds the image work may take before it is stopped (KILN_CONVERT_TIME_LIMIT_SECONDS). */
  timeLimitSeconds: number;
}

export function conversionRunSettings(config: KilnConfig): ConversionRunSettings {
  return { heartbeatTimeoutSeconds: config.convertHeartbeatTimeoutSeconds, timeLimitSeconds: config.convertTimeLimitSeconds };
}

export function workflowInputFor(row: Conversion, settings: ConversionRunSettings): ConversionWorkflowInput {
  const options = row.options as ConversionOptions;
  return {
    conversionId: row.id,
    inputKey: row.input_key,
    outputKey: outputKeyFor(row.id, options.output_format),
    outputFilename: outputFilename(row.input_filename, options.output_format),
    options,
    heartbeatTimeoutSeconds: settings.heartbeatTimeoutSeconds,
    timeLimitSeconds: settings.timeLimitSeconds,
  };
}

/** Starts the conversion's workflow; starting one that already exists is a no-op, so callers may retry. */
export async function startConversionWorkflow(client: Client, row: Conversion, settings: ConversionRunSettings): Promise<void> {
  try {
    const input = workflowInputFor(row, settings);
    await client.workflow.start<typeof conversionWorkflow>('conversionWorkflow' satisfies WorkflowName, {
      workflowId: conversionWorkflowId(row.id),
      taskQueue: TASK_QUEUES.workflows,
      args: [input],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.accountId, value: row.account_id },
        { key: SEARCH_ATTRIBUTES.conversionId, value: row.id },
        { key: SEARCH_ATTRIBUTES.outputFormat, value: input.options.output_format },
        { key: SEARCH_ATTRIBUTES.status, value: 'queued' },
      ],
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/**
 * Requests the run's cancellation (so it ends Canceled, as the Web UI's cancel does);
 * false when no workflow runs under that id (never started, or already closed).
 */
export async function cancelConversionWorkflow(client: Client, conversionId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(conversionWorkflowId(conversionId)).cancel();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}
