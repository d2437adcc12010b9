import path from 'node:path';
import type { KilnConfig } from '../config.js';
import { DownloadSigner } from '../signing/download-url.js';
import { openBlobStore } from '../storage/open-blob-store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { DeliverySettings } from '../webhooks/dispatch.js';
import { ConverterPool } from '../convert/converter-pool.js';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AttemptLog } from '../db/attempt-log.js';
import { AddressGuard } from '../net/address-guard.js';
import type { AttemptDependencies } from '../webhooks/attempt.js';
import { TemplateRenderer, type TemplateLimits } from '../webhooks/template.js';
import type { SourceLimits } from '../sources/fetch-source.js';
import { FirstAttempts } from '../webhooks/first-attempts.js';
import type { ConversionLimits } from '../convert/pipeline.js';
import { WEBHOOK_USER_AGENT } from '../version.js';
import { log } from '../log.js';
import type { DatabaseHandle } from '../db/database.js';

/** The parts both roles build from the settings the same way. */

export function blobStoreFor(config: KilnConfig): BlobStore {
  if (!config.s3Bucket) return openBlobStore({ kind: 'local', root: config.blobDir });
  return openBlobStore({
    kind: 's3',
    bucket: config.s3Bucket,
    region: config.s3Region,
    endpoint: config.s3Endpoint,
    // Servers other than AWS address buckets by path; AWS by host.
    forcePathStyle: config.s3PathStyle === 'auto' ? config.s3Endpoint !== undefined : config.s3PathStyle === 'true',
    prefix: config.s3Prefix,
  });
}

function requireSigningKey(config: KilnConfig): string {
  if (!config.signingKey) throw new Error('KILN_SIGNING_KEY is not set: the API needs it to sign download links');
  return config.signingKey;
}

/**
 * The base URL download links point at: KILN_PUBLIC_URL, else the API's own address once
 * it listens (same process), else HOST:PORT. Workers sign links in webhooks too.
 */
export class PublicUrl {
  private listening: string | undefined;
  constructor(private readonly config: KilnConfig) {}
  apiListening(url: string): void {
    this.listening ??= url;
  }
  get(): string {
    return this.config.publicUrl ?? this.listening ?? `http://${this.config.host}:${this.config.port}`;
  }
}

export function downloadSigner(config: KilnConfig, publicUrl: PublicUrl): DownloadSigner {
  return new DownloadSigner(requireSigningKey(config), () => publicUrl.get(), config.downloadTtlSeconds, config.streamLinkTtlSeconds);
}

export function deliverySettings(config: KilnConfig): DeliverySettings {
  return { defaultRetrySchedule: config.webhookRetrySchedule, requestTimeoutSeconds: config.webhookTimeoutSeconds };
}

/** The bounds of one payload template render. */
export function templateLimits(config: KilnConfig): TemplateLimits {
  return { timeoutMs: config.templateTimeoutMs, maxOutputBytes: config.templateMaxBytes, memoryMb: config.templateMemoryMb };
}

let templates: TemplateRenderer | undefined;

/** The process's template renderer: one child process, started when a template is first rendered, whichever role asks. */
export function templateRenderer(config: KilnConfig): TemplateRenderer {
  templates ??= new TemplateRenderer(templateLimits(config));
  return templates;
}

/** What every delivery attempt needs, in whichever process it runs. */
export function attemptDependencies(config: KilnConfig, db: Kysely<Database>, publicUrl: PublicUrl): AttemptDependencies {
  return {
    db,
    attemptLog: new AttemptLog(db),
    guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
    signer: downloadSigner(config, publicUrl),
    templates: templateRenderer(config),
    disableAfterSeconds: config.endpointDisableAfterSeconds,
    userAgent: WEBHOOK_USER_AGENT,
  };
}

/** How a worker fetches a conversion's source_url: through the same address guard as webhooks. */
export function sourceSettings(config: KilnConfig): { limits: SourceLimits; spoolDir: string } {
  return {
    limits: {
      guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
      maxBytes: config.sourceMaxBytes,
      timeoutMs: config.sourceTimeoutSeconds * 1000,
      maxRedirects: config.sourceMaxRedirects,
    },
    spoolDir: path.join(config.dataDir, 'sources'),
  };
}

/** Deliveries of one account held in memory per first-attempt slot; a larger burst waits in the database, its ids noted. */
const FIRST_ATTEMPT_MAX_WAITING_PER_SLOT = 4;
/**
 * First attempts started at once, on the embedded database, while an API request of the
 * same process is under way (bench:fanout: an upload's answer was as slow with 8 as with 0
 * or 2, and about a third of what it was with all `KILN_DELIVER_CONCURRENCY` slots). On a
 * PostgreSQL server the statements run there, a first attempt costs this process's thread
 * little, and slots waiting on slow receivers cost it nothing: all of them stay open.
 */
const FIRST_ATTEMPT_SLOTS_WHILE_REQUESTS = 8;
/** Seconds a delivery may wait for a first-attempt slot before it goes to a workflow instead. */
const FIRST_ATTEMPT_WINDOW_SECONDS = 15;
/** Room for logging an attempt after its request ended, before the reconcile schedule may take the delivery over. */
const FIRST_ATTEMPT_MARGIN_SECONDS = 30;

/**
 * How long a pending delivery may go without a workflow before the reconcile schedule
 * takes it over: longer than any first attempt can wait and take, so it never starts a
 * workflow for one still under way.
 */
export function deliveryGraceSeconds(config: KilnConfig): number {
  return FIRST_ATTEMPT_WINDOW_SECONDS + config.webhookTimeoutSeconds + FIRST_ATTEMPT_MARGIN_SECONDS;
}

/** First attempts of the events this process stores, made here (see webhooks/first-attempts.ts). */
export function firstAttemptsFor(
  config: KilnConfig,
  attempt: AttemptDependencies,
  client: Client,
  database: Pick<DatabaseHandle, 'kind' | 'requests'>,
): FirstAttempts {
  return new FirstAttempts({
    attempt,
    client,
    settings: deliverySettings(config),
    concurrency: config.deliverConcurrency,
    concurrencyWhileRequests: database.kind === 'embedded' ? FIRST_ATTEMPT_SLOTS_WHILE_REQUESTS : config.deliverConcurrency,
    requests: database.requests,
    maxWaiting: FIRST_ATTEMPT_MAX_WAITING_PER_SLOT * config.deliverConcurrency,
    windowMs: FIRST_ATTEMPT_WINDOW_SECONDS * 1000,
    claimSeconds: deliveryGraceSeconds(config),
    log,
  });
}

/** How long first attempts under way may take to end when a process stops. */
export const FIRST_ATTEMPT_DRAIN_MS = 15_000;

export function logWebhookAllowList(config: KilnConfig): void {
  const cidrs = config.webhookAllowedCidrs ?? [];
  log(
    cidrs.length
      ? `webhooks may reach these non-public ranges (KILN_WEBHOOK_ALLOWED_CIDRS): ${cidrs.join(', ')}`
      : 'webhooks reach public addresses only (set KILN_WEBHOOK_ALLOWED_CIDRS to allow others)',
  );
}

function conversionLimits(config: KilnConfig): ConversionLimits {
  return { maxInputPixels: config.maxInputPixels, maxOutputPixels: config.maxOutputPixels, avifEffort: config.avifEffort, maxFrames: config.maxFrames };
}

/** One converter process per convert slot, each under the configured memory ceiling. */
export function converterPoolFor(config: KilnConfig): ConverterPool {
  return new ConverterPool({
    size: config.convertConcurrency,
    limits: conversionLimits(config),
    memoryLimitBytes: config.convertMemoryLimitMb * 2 ** 20,
    log,
  });
}
