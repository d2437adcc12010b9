export { conversionWorkflow } from './conversion.js';
