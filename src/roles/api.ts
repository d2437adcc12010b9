import { listenForEvents } from '../events/event-bell.js';
import { forgetFullRateLimits } from '../db/rate-limits.js';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { KilnConfig } from '../config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency-keys.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ApiDependencies } from '../api/context.js';
import { REQUEST_TIMEOUT_MS } from '../api/request-timeout.js';
import { startApiServer, type RunningApi } from '../api/server.js';
import { processSpoolDir, sweepSpool } from '../api/spool.js';
import { AddressGuard } from '../net/address-guard.js';
import { log, logger } from '../log.js';
import { registerSearchAttributes } from '../temporal/register-search-attributes.js';
import { attemptDependencies, deliverySettings, downloadSigner, FIRST_ATTEMPT_DRAIN_MS, firstAttemptsFor, PublicUrl, templateLimits } from './wiring.js';
import { TemplateRenderer } from '../webhooks/template.js';
import { KilnMetrics } from '../metrics.js';
import type { FirstAttempts } from '../webhooks/first-attempts.js';

export interface ApiRole {
  api: RunningApi;
  stop: () => Promise<void>;
}

const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Now and every `intervalMs`: removes spooled uploads that processes gone left (at once for
 * this host's, past any live request's age for others'; see sweepSpool), and forgets expired
 * Idempotency-Keys.
 */
function keepHouse(dir: string, db: Kysely<Database>, intervalMs: number): () => void {
  const sweep = (): void => {
    sweepSpool(dir, REQUEST_TIMEOUT_MS + 60_000).then(
      (removed) => removed > 0 && log(`removed ${removed} upload(s) left in ${dir} by an earlier process`),
      (error: unknown) => log(`could not sweep ${dir}`, error),
    );
    deleteExpiredIdempotencyKeys(db).catch((error: unknown) => log('could not delete expired idempotency keys', error));
    forgetFullRateLimits(db).catch((error: unknown) => log('could not forget whole rate allowances', error));
  };
  sweep();
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The API process role: the HTTP server and its housekeeping. The first attempts of the
 * events it stores are made in this process (by `firstAttempts` when given: `kiln dev`
 * shares the worker's), so an upload's `file.uploaded` goes out at once, off the request.
 */
export async function startApiRole(
  config: KilnConfig,
  database: DatabaseHandle,
  client: Client,
  blobs: BlobStore,
  publicUrl: PublicUrl = new PublicUrl(config),
  firstAttempts?: FirstAttempts,
): Promise<ApiRole> {
  const deliveries = firstAttempts ?? firstAttemptsFor(config, attemptDependencies(config, database.background, publicUrl), client, database);
  const spoolRoot = path.join(config.dataDir, 'spool');
  const events = await listenForEvents(database);
  const deps: ApiDependencies = {
    config,
    db: database.db,
    blobs,
    temporal: client,
    signer: downloadSigner(config, publicUrl),
    guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
    bell: events.bell,
    // Its own renderer: templates being saved or previewed never queue before deliveries' renders.
    templates: new TemplateRenderer(templateLimits(config)),
    metrics: new KilnMetrics(database.db),
    delivery: deliverySettings(config),
    deliveries,
    requests: database.requests,
    spoolDir: processSpoolDir(spoolRoot),
    log,
    logger,
  };
  // The API starts runs with these attributes; Temporal refuses a start that names unknown ones.
  await registerSearchAttributes(client.connection, config.temporalNamespace);
  const api = await startApiServer(deps, config.port, config.host);
  publicUrl.apiListening(api.url);
  const stopHousekeeping = keepHouse(spoolRoot, database.db, HOUSEKEEPING_INTERVAL_MS);
  return {
    api,
    stop: async () => {
      stopHousekeeping();
      await api.close();
      await events.stop();
      // Every request has ended: this process's spool holds nothing it will read again.
      await rm(deps.spoolDir, { recursive: true, force: true });
      deps.templates.close();
      // Another role's first attempts are that role's to drain.
      if (!firstAttempts) await deliveries.close(FIRST_ATTEMPT_DRAIN_MS);
    },
  };
}
