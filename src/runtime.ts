import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import type { KilnConfig } from './config.js';
import type { DatabaseHandle } from './db/database.js';
import { DownloadSigner } from './signing/download-url.js';
import { LocalBlobStore } from './storage/local-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import type { ApiDependencies } from './api/context.js';
import { REQUEST_TIMEOUT_MS } from './api/request-timeout.js';
import { startApiServer, type RunningApi } from './api/server.js';
import { sweepSpool } from './api/upload.js';
import { deleteExpiredIdempotencyKeys } from './db/idempotency-keys.js';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import { createWorkers, runWorkers } from './temporal/worker.js';
import { runReconciler } from './temporal/reconcile.js';
import { conversionRunSettings } from './temporal/conversions.js';
import { AddressGuard } from './webhooks/address-guard.js';
import type { DeliverySettings } from './webhooks/dispatch.js';
import { KILN_VERSION } from './version.js';
import { inspect } from 'node:util';
import { ConverterPool } from './convert/converter-pool.js';
import type { ConversionLimits } from './convert/pipeline.js';

export function log(message: string, error?: unknown): void {
  const suffix = error === undefined ? '' : `: ${error instanceof Error ? (error.stack ?? error.message) : inspect(error)}`;
  console.error(`[kiln] ${message}${suffix}`);
}

let runtimeInstalled = false;

/** Temporal's native runtime is process-wide; Kiln installs it once with its own log level and signal handling. */
export function installTemporalRuntime(level: LogLevel = (process.env.KILN_TEMPORAL_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  // Kiln handles SIGINT/SIGTERM itself so the API, workers and dev servers stop in order.
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: [] });
}

export function blobStoreFor(config: KilnConfig): BlobStore {
  return new LocalBlobStore(config.blobDir);
}

export async function connectTemporal(address: string, namespace: string): Promise<{ client: Client; native: NativeConnection; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace });
  return {
    client,
    native,
    close: async () => {
      await native.close();
      await connection.close();
    },
  };
}

export function requireSigningKey(config: KilnConfig): string {
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
  return new DownloadSigner(requireSigningKey(config), () => publicUrl.get(), config.downloadTtlSeconds);
}

export function deliverySettings(config: KilnConfig): DeliverySettings {
  return { defaultRetrySchedule: config.webhookRetrySchedule, requestTimeoutSeconds: config.webhookTimeoutSeconds };
}

export const WEBHOOK_USER_AGENT = `Kiln-Webhooks/${KILN_VERSION} (self-hosted image conversion)`;

export function logWebhookAllowList(config: KilnConfig): void {
  const cidrs = config.webhookAllowedCidrs ?? [];
  log(
    cidrs.length
      ? `webhooks may reach these non-public ranges (KILN_WEBHOOK_ALLOWED_CIDRS): ${cidrs.join(', ')}`
      : 'webhooks reach public addresses only (set KILN_WEBHOOK_ALLOWED_CIDRS to allow others)',
  );
}

export interface ApiRole {
  api: RunningApi;
  stop: () => Promise<void>;
}

const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Now and every `intervalMs`: removes spooled uploads older than any live request can be,
 * and forgets expired Idempotency-Keys.
 */
function keepHouse(dir: string, db: Kysely<Database>, intervalMs: number): () => void {
  const sweep = (): void => {
    sweepSpool(dir, REQUEST_TIMEOUT_MS + 60_000).then(
      (removed) => removed > 0 && log(`removed ${removed} upload(s) left in ${dir} by an earlier process`),
      (error: unknown) => log(`could not sweep ${dir}`, error),
    );
    deleteExpiredIdempotencyKeys(db).catch((error: unknown) => log('could not delete expired idempotency keys', error));
  };
  sweep();
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The API process role: HTTP server plus the reconciler that starts stranded conversions. */
export async function startApiRole(
  config: KilnConfig,
  database: DatabaseHandle,
  client: Client,
  blobs: BlobStore,
  publicUrl: PublicUrl = new PublicUrl(config),
): Promise<ApiRole> {
  const deps: ApiDependencies = {
    config,
    db: database.db,
    blobs,
    temporal: client,
    signer: downloadSigner(config, publicUrl),
    guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
    delivery: deliverySettings(config),
    spoolDir: path.join(config.dataDir, 'spool'),
    log,
  };
  const api = await startApiServer(deps, config.port, config.host);
  publicUrl.apiListening(api.url);
  const stopHousekeeping = keepHouse(deps.spoolDir, database.db, HOUSEKEEPING_INTERVAL_MS);
  const stopReconciler = runReconciler(database.db, client, {
    graceSeconds: 30,
    conversion: conversionRunSettings(config),
    requestTimeoutSeconds: config.webhookTimeoutSeconds,
    intervalMs: 60_000,
    log,
  });
  return {
    api,
    stop: async () => {
      stopReconciler();
      stopHousekeeping();
      await api.close();
    },
  };
}

export interface WorkerRole {
  done: Promise<void>;
  stop: () => void;
  converter: ConverterPool;
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

export function conversionLimits(config: KilnConfig): ConversionLimits {
  return { maxInputPixels: config.maxInputPixels, maxOutputPixels: config.maxOutputPixels, avifEffort: config.avifEffort };
}

/** The worker process role: all of Kiln's Temporal workers until stopped. */
export async function startWorkerRole(
  config: KilnConfig,
  database: DatabaseHandle,
  temporal: { native: NativeConnection; client: Client },
  blobs: BlobStore,
  publicUrl: PublicUrl = new PublicUrl(config),
): Promise<WorkerRole> {
  const converter = converterPoolFor(config);
  const workers = await createWorkers({
    connection: temporal.native,
    client: temporal.client,
    delivery: deliverySettings(config),
    deliver: {
      guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
      signer: downloadSigner(config, publicUrl),
      disableAfterSeconds: config.endpointDisableAfterSeconds,
      userAgent: WEBHOOK_USER_AGENT,
    },
    deliverConcurrency: config.deliverConcurrency,
    namespace: config.temporalNamespace,
    db: database.db,
    blobs,
    converter,
    convertConcurrency: config.convertConcurrency,
  }).catch(async (error: unknown) => {
    await converter.close();
    throw error;
  });
  const abort = new AbortController();
  const done = runWorkers(workers, abort.signal).finally(() => converter.close());
  return { done, stop: () => abort.abort(), converter };
}
