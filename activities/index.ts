export { createConvertActivities, type ConvertActivities, type ConvertDependencies } from './convert.js';
export { conversionRecorder, createRecordActivities, type RecordActivities, type RecordDependencies } from './record.js';
export { createDeliverActivities, type DeliverActivities, type DeliverDependencies } from './deliver.js';
export { createReconcileActivities, type ReconcileActivities, type ReconcileDependencies } from './reconcile.js';
export { createJobActivities, jobFileRecords, type JobActivities, type JobDependencies } from './job.js';
export { createSourceActivities, type SourceActivities, type SourceDependencies } from './source.js';
export { createRetentionActivities, type RetentionActivities, type RetentionDependencies, type RetentionPeriods } from './retention.js';
