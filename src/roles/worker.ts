import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { KilnConfig } from '../config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ConverterPool } from '../convert/converter-pool.js';
import { createWorkers, runWorkers } from '../temporal/worker.js';
import { conversionRunSettings } from '../conversions/workflow.js';
import { ensureReconcileSchedule } from '../temporal/reconcile.js';
import { AddressGuard } from '../webhooks/address-guard.js';
import { converterPoolFor, deliverySettings, downloadSigner, PublicUrl, WEBHOOK_USER_AGENT } from './wiring.js';

export interface WorkerRole {
  done: Promise<void>;
  stop: () => void;
  converter: ConverterPool;
}

/** Seconds a stored conversion or delivery may wait for its workflow before the reconcile schedule starts it. */
const RECONCILE_GRACE_SECONDS = 30;

/** The worker process role: all of Kiln's Temporal workers until stopped, and the reconcile schedule. */
export async function startWorkerRole(
  config: KilnConfig,
  database: DatabaseHandle,
  temporal: { native: NativeConnection; client: Client },
  blobs: BlobStore,
  publicUrl: PublicUrl = new PublicUrl(config),
): Promise<WorkerRole> {
  // Its runs wait on the `kiln` queue until the workers below poll it.
  await ensureReconcileSchedule(temporal.client);
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
    reconcile: {
      graceSeconds: RECONCILE_GRACE_SECONDS,
      conversion: conversionRunSettings(config),
      requestTimeoutSeconds: config.webhookTimeoutSeconds,
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
