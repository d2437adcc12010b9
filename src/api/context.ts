import type { EventBell } from '../events/event-bell.js';
import type { IntakeDependencies } from '../intake/intake.js';
import type { LogFunction, Logger } from '../log.js';
import type { RequestsUnderWay } from '../requests-under-way.js';
import type { TemplateRenderer } from '../webhooks/template.js';
import type { KilnMetrics } from '../metrics.js';
import type { DownloadSigner } from '../signing/download-url.js';

/**
 * What the API's routes work with, beside what the intake needs (settings, database, blob
 * store, Temporal client, address guard, deliveries); built once by whoever starts the API.
 */
export interface ApiDependencies extends IntakeDependencies {
  signer: DownloadSigner;
  /** Prometheus metrics of this process (served at /metrics); absent where nothing scrapes (route-only tests). */
  metrics?: KilnMetrics;
  /** Wakes held requests and event streams when an account's event is stored. */
  bell: EventBell;
  /** Renders payload templates (validation at save, previews). */
  templates: TemplateRenderer;
  /** Directory where uploads are spooled before they are accepted. */
  spoolDir: string;
  log: LogFunction;
  /** Kiln's structured log; each request logs through a child carrying its request id. */
  logger: Logger;
  /** Where this process counts its requests under way, for its background work to give way to; absent in route-only tests. */
  requests?: RequestsUnderWay;
}
