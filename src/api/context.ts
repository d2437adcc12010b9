import type { Client } from '@temporalio/client';
import type { LogFunction, Logger } from '../log.js';
import type { Kysely } from 'kysely';
import type { TemplateRenderer } from '../webhooks/template.js';
import type { KilnMetrics } from '../metrics.js';
import type { KilnConfig } from '../config.js';
import type { Database } from '../db/schema.js';
import type { DownloadSigner } from '../signing/download-url.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { AddressGuard } from '../net/address-guard.js';
import type { DeliveryDispatch, DeliverySettings } from '../webhooks/dispatch.js';

/** What the API's routes work with; built once by whoever starts the API. */
export interface ApiDependencies {
  config: KilnConfig;
  db: Kysely<Database>;
  blobs: BlobStore;
  temporal: Client;
  signer: DownloadSigner;
  /** Judges webhook URLs with literal addresses at creation (names are judged at delivery). */
  guard: AddressGuard;
  /** Prometheus metrics of this process (served at /metrics); absent where nothing scrapes (route-only tests). */
  metrics?: KilnMetrics;
  /** Renders payload templates (validation at save, previews). */
  templates: TemplateRenderer;
  delivery: DeliverySettings;
  /** Takes charge of the deliveries of the events the API stores: their first attempts, in this process. */
  deliveries: DeliveryDispatch;
  /** Directory where uploads are spooled before they are accepted. */
  spoolDir: string;
  log: LogFunction;
  /** Kiln's structured log; each request logs through a child carrying its request id. */
  logger: Logger;
}
