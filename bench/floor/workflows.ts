import { proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { FloorActivities } from './activities.js';
import { SEARCH_ATTRIBUTES } from '../../src/search-attributes.js';

export interface ShapeInput {
  localActivities: number;
  remoteActivities: number;
  remoteQueue?: string;
  upserts: number;
}

const local = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '10 seconds' });

/** A workflow of a chosen shape: n local activities around m remote ones, with k search-attribute upserts. */
export async function shapedWorkflow(input: ShapeInput): Promise<void> {
  const remote = proxyActivities<FloorActivities>({ startToCloseTimeout: '10 seconds', taskQueue: input.remoteQueue });
  let upserts = input.upserts;
  const upsert = (value: string): void => {
    if (upserts-- > 0) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value }]);
  };
  const half = Math.ceil(input.localActivities / 2);
  for (let i = 0; i < half; i++) await local.noop();
  upsert('running');
  for (let i = 0; i < input.remoteActivities; i++) await remote.noop();
  for (let i = half; i < input.localActivities; i++) await local.noop();
  upsert('succeeded');
}
