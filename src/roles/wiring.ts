import type { KilnConfig } from '../config.js';
import { DownloadSigner } from '../signing/download-url.js';
import { LocalBlobStore } from '../storage/local-blob-store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { DeliverySettings } from '../webhooks/dispatch.js';
import { ConverterPool } from '../convert/converter-pool.js';
import type { ConversionLimits } from '../convert/pipeline.js';
import { KILN_VERSION } from '../version.js';
import { log } from '../log.js';

/** The parts both roles build from the settings the same way. */

export function blobStoreFor(config: KilnConfig): BlobStore {
  return new LocalBlobStore(config.blobDir);
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

function conversionLimits(config: KilnConfig): ConversionLimits {
  return { maxInputPixels: config.maxInputPixels, maxOutputPixels: config.maxOutputPixels, avifEffort: config.avifEffort };
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
