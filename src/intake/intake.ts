import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { KilnConfig } from '../config.js';
import type { Database } from '../db/schema.js';
import type { LogFunction } from '../log.js';
import type { AddressGuard } from '../net/address-guard.js';
import type { BlobStore } from '../storage/blob-store.js';
import { dispatchOrDefer, type DeliveryDispatch, type DeliverySettings } from '../webhooks/dispatch.js';
import type { PublishedEvent } from '../events/publish.js';

/**
 * The intake: every way a conversion starts (a single upload, a URL, a job's uploaded
 * files, URLs or earlier originals) passes the same steps, in src/intake/:
 *
 *   options.ts   preset → options → every asset named checked against the account
 *   conversions.ts / jobs.ts
 *                sources checked (the account's earlier conversions, URLs) → originals
 *                stored under the account's keys → rows and their file.uploaded events in
 *                one transaction → the run started (or left to the reconcile schedule)
 *
 * Routes only read the transport (multipart, raw body, JSON) and answer.
 */
export interface IntakeDependencies {
  config: KilnConfig;
  db: Kysely<Database>;
  blobs: BlobStore;
  temporal: Client;
  /** Judges webhook and source URLs with literal addresses (names are judged when used). */
  guard: AddressGuard;
  delivery: DeliverySettings;
  /** Takes charge of the deliveries of the events the intake stores. */
  deliveries: DeliveryDispatch;
}

/**
 * Hands the new events' deliveries over and starts the run; neither is awaited by the
 * answer's correctness: deliveries not handed over and runs not started are found by the
 * reconcile schedule (src/temporal/reconcile.ts), since every row and event is stored.
 */
export async function startAccepted(
  deps: IntakeDependencies,
  log: LogFunction,
  what: string,
  events: readonly PublishedEvent[],
  start: () => Promise<void>,
): Promise<void> {
  // Not awaited: the answer never waits on webhooks.
  void dispatchOrDefer(deps.deliveries, events, log);
  try {
    await start();
  } catch (error) {
    log(`could not start the workflow of ${what} yet; it stays queued`, error);
  }
}
