import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream';

/**
 * How much of a body the API still reads, and drops, after it has answered the request
 * before its end (a refusal: too large, a bad option, a bad part). Most clients write their
 * whole body before they read the answer; one whose connection closed under it would get a
 * reset instead of the 4xx. Past this much the connection is closed after all.
 */
export const UNREAD_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

/** Reads and drops the rest of a body the handler left unread, up to `limit` bytes. */
export function discardUnreadBody(req: IncomingMessage, limit = UNREAD_BODY_LIMIT_BYTES): void {
  if (req.complete || req.destroyed) return;
  req.unpipe();
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limit) req.socket.destroy();
  });
  req.resume();
}

/**
 * The whole body, or undefined as soon as it passes `maxBytes` (the rest is left unread for
 * discardUnreadBody); rejects when the client goes away first.
 */
export function readAtMost(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      req.pause();
      resolve(undefined);
    };
    const stopWatching = finished(req, { writable: false }, (error) => {
      stop();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    });
    const stop = (): void => {
      req.off('data', onData);
      stopWatching();
    };
    req.on('data', onData);
  });
}
