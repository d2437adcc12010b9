export { conversionWorkflow } from './conversion.js';
export { deliveryWorkflow } from './delivery.js';
export { jobWorkflow } from './job.js';
export { reconcileWorkflow } from './reconcile.js';
export { retentionWorkflow } from './retention.js';
