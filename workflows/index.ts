export { conversionWorkflow } from './conversion.js';
export { deliveryWorkflow } from './delivery.js';
export { reconcileWorkflow } from './reconcile.js';
