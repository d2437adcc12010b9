import type { Kysely } from 'kysely';
import { recordAttempts, type AttemptRecord } from './deliveries.js';
import type { Database, DeliveryStatus } from './schema.js';

interface Pending {
  deliveryId: string;
  attempt: AttemptRecord;
  resolve: (logged: { attempt: number; status: DeliveryStatus }) => void;
  reject: (error: unknown) => void;
}

/** Most attempts one statement logs; a larger backlog takes several. */
const MAX_BATCH = 200;

/**
 * The delivery log's writer. An attempt is written at the end of the event loop's turn in
 * which it ended, with every other attempt that ended in that turn; attempts that end while
 * a write is under way are written together by the next one, in a single statement. A lone
 * attempt waits for nothing but the turn, and a burst costs the database one statement per
 * batch instead of one commit per attempt.
 */
export class AttemptLog {
  private queue: Pending[] = [];
  private writing = false;

  constructor(private readonly db: Kysely<Database>) {}

  /** Logs the attempt; answers its number and the delivery's status after it, once written. */
  record(deliveryId: string, attempt: AttemptRecord): Promise<{ attempt: number; status: DeliveryStatus }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ deliveryId, attempt, resolve, reject });
      if (this.writing) return;
      this.writing = true;
      // Attempts that end in the same turn of the event loop go in one statement: on the
      // embedded database a statement runs to its end before any other callback, so
      // without this turn's wait nothing would ever queue behind a write.
      setImmediate(() => void this.writeAll());
    });
  }

  private async writeAll(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          const logged = await recordAttempts(this.db, batch);
          batch.forEach((pending, index) => {
            const result = logged[index];
            if (result) pending.resolve(result);
            else pending.reject(new Error(`no delivery ${pending.deliveryId}`));
          });
        } catch (error) {
          batch.forEach((pending) => pending.reject(error));
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** The next batch: at most one attempt per delivery (a statement updates each row once), in arrival order. */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const seen = new Set<string>();
    for (const pending of this.queue) {
      if (batch.length < MAX_BATCH && !seen.has(pending.deliveryId)) {
        seen.add(pending.deliveryId);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.queue = rest;
    return batch;
  }
}
