import { conversionWorkflow } from './conversion.js';
import { deliveryWorkflow } from './delivery.js';
import { jobWorkflow } from './job.js';
import { reconcileWorkflow } from './reconcile.js';
import { retentionWorkflow } from './retention.js';
import type { WorkflowSignatures } from './definitions.js';
import type { WorkflowName } from '../src/names.js';

export { conversionWorkflow, deliveryWorkflow, jobWorkflow, reconcileWorkflow, retentionWorkflow };

// Every name in src/names.ts has its workflow and every workflow its name, each of the
// signature its clients start it with: a mismatch fails the type check here.
const _workflows = { conversionWorkflow, deliveryWorkflow, jobWorkflow, reconcileWorkflow, retentionWorkflow } satisfies WorkflowSignatures;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _namesAgree: [Same<keyof typeof _workflows, WorkflowName>, Same<keyof WorkflowSignatures, WorkflowName>] = [true, true];
