import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import type { PurgeCounts } from '../workflows/definitions.js';
import {
  markOriginalsPurged,
  markOutputsPurged,
  originalsPastRetention,
  outputsPastRetention,
  purgeAttemptPreviews,
  purgeEventPayloads,
} from '../src/db/retention.js';
import { purgeSignInLinks } from '../src/db/sign-in-links.js';
import type { BlobStore } from '../src/storage/blob-store.js';
import { retentionPurged } from '../src/process-metrics.js';

/** Seconds each kind of stored data is kept before the retention schedule purges it. */
export interface RetentionPeriods {
  /** Uploaded originals and fetched sources (KILN_RETENTION_ORIGINALS). */
  originals: number;
  /** Conversion outputs and renditions (KILN_RETENTION_OUTPUTS). */
  outputs: number;
  /** Job archives (KILN_RETENTION_ARCHIVES). */
  archives: number;
  /** Event payloads; the event row and its delivery log stay (KILN_RETENTION_EVENTS). */
  eventPayloads: number;
  /** The requests and response body previews of delivery attempts (KILN_RETENTION_ATTEMPTS). */
  attemptPreviews: number;
}

export interface RetentionDependencies {
  db: Kysely<Database>;
  blobs: BlobStore;
  periods: RetentionPeriods;
}

/** Rows handled per query; a run goes on until a query finds fewer. */
const BATCH = 200;
/** A run stops after this many of a kind; the next run (an hour later) goes on. */
const MOST_PER_RUN = 20_000;

const before = (now: Date, seconds: number): Date => new Date(now.getTime() - seconds * 1000);

export function createRetentionActivities({ db, blobs, periods }: RetentionDependencies) {
  /** Runs `batch` until it handles fewer than BATCH, counting what it handled. */
  async function drain(kind: string, batch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const handled = await batch();
      total += handled;
      retentionPurged.inc({ kind }, handled);
      Context.current().heartbeat({ kind, total });
      if (handled < BATCH || total >= MOST_PER_RUN) return total;
    }
  }

  return {
    /**
     * Deletes what is past its retention period: originals (once every conversion reading
     * them finished before the cut-off), outputs and renditions of finished conversions,
     * the payloads of events no pending delivery still needs, and attempts' response
     * previews. Blobs go first, then the row says so, so a crash between the two only
     * deletes again what is already gone. Answers what it removed.
     */
    async purgeExpired(): Promise<PurgeCounts> {
      const now = new Date();
      const originals = await drain('original', async () => {
        const found = await originalsPastRetention(db, before(now, periods.originals), BATCH);
        for (const original of found) {
          await blobs.delete(original.key);
          await markOriginalsPurged(db, original.conversionIds, now);
        }
        return found.length;
      });
      const outputs = await drain('output', async () => {
        const found = await outputsPastRetention(db, before(now, periods.outputs), BATCH);
        for (const conversion of found) {
          const keys = new Set([conversion.output_key, ...(conversion.outputs ?? []).map((output) => output.key)]);
          for (const key of keys) await blobs.delete(key);
        }
        await markOutputsPurged(
          db,
          found.map((conversion) => conversion.id),
          now,
        );
        return found.length;
      });
      const eventPayloads = await drain('event_payload', () => purgeEventPayloads(db, before(now, periods.eventPayloads), BATCH, now));
      const attemptPreviews = await drain('attempt_preview', () => purgeAttemptPreviews(db, before(now, periods.attemptPreviews), BATCH));
      // Links nobody can use any more: a few rows each, gone a day after they expired.
      await purgeSignInLinks(db);
      return { originals, outputs, event_payloads: eventPayloads, attempt_previews: attemptPreviews };
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
