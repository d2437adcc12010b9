import type { DatabaseHandle } from '../db/database.js';

/** The channel every stored event notifies: `<account> <type> <subject>` (migration 0025). */
export const EVENTS_CHANNEL = 'kiln_events';

/**
 * How often a waiter looks again unwoken: a notification missed while the listening
 * connection was reopened costs at most this.
 */
export const FALLBACK_LOOK_MS = 1000;

/** What a notification says of the event stored. */
export interface StoredEventNotice {
  type: string;
  subjectId: string;
}

type Waiter = { wake: () => void; wants?: (event: StoredEventNotice) => boolean };

/**
 * Wakes what waits on an account's events (a request held by `Prefer: wait`, an open event
 * stream) when one is stored, in whichever process: Postgres notifies every listener at
 * the commit. A waiter still looks again after a fallback interval, so a notification
 * missed while a connection was reopened costs that interval, never a wait's end.
 */
export class EventBell {
  private readonly waiting = new Map<string, Set<Waiter>>();

  /** Wakes the account's waiters that want this event (all of them when it is not said). */
  ring(accountId: string, event?: StoredEventNotice): void {
    const waiters = this.waiting.get(accountId);
    if (!waiters) return;
    for (const waiter of [...waiters]) if (!event || !waiter.wants || waiter.wants(event)) waiter.wake();
  }

  /** Hears a notification's payload: `<account> <type> <subject>`. */
  heard(payload: string): void {
    const [accountId, type, subjectId] = payload.split(' ');
    if (accountId) this.ring(accountId, type && subjectId ? { type, subjectId } : undefined);
  }

  /**
   * Settles at the account's next event (that `wants`, when given) or after `fallbackMs`,
   * whichever is first. Arm it before reading what it guards, so an event stored during
   * the read is not missed.
   */
  next(accountId: string, fallbackMs: number, wants?: (event: StoredEventNotice) => boolean): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.waiting.get(accountId);
      if (!waiters) this.waiting.set(accountId, (waiters = new Set()));
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.waiting.get(accountId) === waiters) this.waiting.delete(accountId);
          resolve();
        },
        ...(wants ? { wants } : {}),
      };
      const timer = setTimeout(waiter.wake, fallbackMs);
      waiters.add(waiter);
    });
  }
}

/** A bell rung by the database's notifications; the answer stops listening. */
export async function listenForEvents(database: Pick<DatabaseHandle, 'listen'>): Promise<{ bell: EventBell; stop: () => Promise<void> }> {
  const bell = new EventBell();
  const stop = await database.listen(EVENTS_CHANNEL, (payload) => bell.heard(payload));
  return { bell, stop };
}
