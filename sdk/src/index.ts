export {
  Kiln,
  FINAL_STATUSES,
  type Preset,
  type KilnOptions,
  type Input,
  type WaitOptions,
  type Conversion,
  type Job,
  type Problem,
  type ConversionOptions,
  type JobOptions,
  type ListPath,
  type Page,
} from './client.js';
export { KilnError, WebhookVerificationError } from './errors.js';
export { verifyWebhook, signWebhook, type WebhookEvent, type VerifyOptions } from './webhooks.js';
export { readEventStream, type StreamedEvent } from './sse.js';
export type { paths, components } from './kiln-api.js';
