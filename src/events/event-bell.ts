import type { DatabaseHandle } from '../db/database.js';

/** The channel every stored event notifies, with its account as the payload (migration 0025). */
export const EVENTS_CHANNEL = 'kiln_events';

/**
 * Wakes what waits on an account's events (a request held by `Prefer: wait`, an open event
 * stream) when one is stored, in whichever process: Postgres notifies every listener at
 * the commit. A waiter still looks again after a fallback interval, so a notification
 * missed while a connection was reopened costs that interval, never a wait's end.
 */
export class EventBell {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Wakes every waiter of the account. */
  ring(accountId: string): void {
    const waiters = this.waiting.get(accountId);
    if (!waiters) return;
    this.waiting.delete(accountId);
    for (const wake of [...waiters]) wake();
  }

  /**
   * Settles at the account's next event or after `fallbackMs`, whichever is first. Arm it
   * before reading what it guards, so an event stored during the read is not missed.
   */
  next(accountId: string, fallbackMs: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.waiting.get(accountId);
      if (!waiters) this.waiting.set(accountId, (waiters = new Set()));
      const wake = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiting.get(accountId) === waiters) this.waiting.delete(accountId);
        resolve();
      };
      const timer = setTimeout(wake, fallbackMs);
      waiters.add(wake);
    });
  }
}

/** A bell rung by the database's notifications; the answer stops listening. */
export async function listenForEvents(database: Pick<DatabaseHandle, 'listen'>): Promise<{ bell: EventBell; stop: () => Promise<void> }> {
  const bell = new EventBell();
  const stop = await database.listen(EVENTS_CHANNEL, (accountId) => bell.ring(accountId));
  return { bell, stop };
}
