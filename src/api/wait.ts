import type { Context } from 'koa';
import { z } from 'zod';
import { FALLBACK_LOOK_MS } from '../events/event-bell.js';
import { waitingFromNow } from './requests-under-way.js';

/** The longest a request may ask to be held (RFC 7240 `Prefer: wait`, or `?wait=`). */
export const MAX_WAIT_SECONDS = 60;

/** The `Prefer` request header, as documented on the operations that honour `wait`. */
export const preferHeader = z
  .string()
  .optional()
  .meta({
    param: {
      name: 'Prefer',
      in: 'header',
      description: `\`wait=N\` (RFC 7240, N ≤ ${MAX_WAIT_SECONDS}): hold the answer until the conversion ends or N seconds pass; \`Preference-Applied\` says when it was honoured`,
    },
  });

/** Seconds the client asked to be held by `Prefer: wait=N` (at most MAX_WAIT_SECONDS); undefined when it did not (other preferences are ignored, as RFC 7240 allows). */
export function preferredWait(ctx: Context): number | undefined {
  const match = /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(ctx.get('prefer'));
  return match ? Math.min(Number(match[1]), MAX_WAIT_SECONDS) : undefined;
}

/**
 * Reads `read` until `ended` says so, `seconds` pass, or the client goes away; answers the
 * last reading. It reads again when `changed` settles (an event of the account was stored,
 * or its fallback interval passed); `changed` is armed before each read, so a change
 * during the read wakes the next wait at once.
 */
export async function holdUntil<T>(
  ctx: Context,
  seconds: number,
  read: () => Promise<T>,
  ended: (value: T) => boolean,
  changed: (withinMs: number) => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  waitingFromNow(ctx);
  let gone = false;
  const onClose = (): void => {
    gone = true;
  };
  ctx.req.once('close', onClose);
  try {
    const arm = (): Promise<void> => changed(Math.min(FALLBACK_LOOK_MS, Math.max(0, deadline - Date.now())));
    let woken = arm();
    let value = await read();
    while (!ended(value) && !gone && Date.now() < deadline) {
      await woken;
      woken = arm();
      value = await read();
    }
    return value;
  } finally {
    ctx.req.off('close', onClose);
  }
}
