/**
 * Requests a client is waiting on in this process's API, counted from their arrival until
 * their handler ends or they start to wait on something else (`Prefer: wait`). Background
 * work of the same process gives way to them while any is under way: on the embedded
 * database, webhook deliveries' statements are paced (db/pglite-dialect.ts) and their first
 * attempts take fewer slots (roles/wiring.ts). In `kiln dev`, and wherever the API runs
 * beside a worker on the embedded database, both share one thread.
 */
export class RequestsUnderWay {
  private count = 0;
  private readonly quietListeners: Array<() => void> = [];

  /** Counts a request; answers the function that stops counting it (it counts once, however often called). */
  begin(): () => void {
    this.count += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.count -= 1;
      if (this.count === 0) for (const listener of this.quietListeners) listener();
    };
  }

  get busy(): boolean {
    return this.count > 0;
  }

  /** Calls `listener` each time the last request under way ends. */
  onQuiet(listener: () => void): void {
    this.quietListeners.push(listener);
  }
}
