/**
 * Starts bench/receiver-process.ts, a webhook receiver in a process of its own, and follows
 * what it reports: every arrival's time, by webhook-id.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReceiverMessage } from './receiver-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The receiver process, and what it has reported: every arrival's time, by webhook-id. */
export interface Receiver {
  url: string;
  child: ChildProcess;
  arrivals: Map<string, number[]>;
  /** Resolves once `count` requests in all have arrived since the receiver started. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  total(): number;
}

export async function startReceiverProcess(): Promise<Receiver> {
  const child = fork(path.join(here, 'receiver-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const arrivals = new Map<string, number[]>();
  let total = 0;
  let waiters: Array<{ count: number; resolve: () => void }> = [];
  const port = await new Promise<number>((resolve) => {
    child.on('message', (message: ReceiverMessage) => {
      if ('port' in message) return resolve(message.port);
      for (const [id, at] of message.arrivals) {
        const times = arrivals.get(id) ?? [];
        times.push(at);
        arrivals.set(id, times);
      }
      total += message.arrivals.length;
      waiters = waiters.filter((w) => (total >= w.count ? (w.resolve(), false) : true));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    arrivals,
    total: () => total,
    waitFor: (count, timeoutMs = 600_000) =>
      new Promise((resolve, reject) => {
        if (total >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`the receiver got ${total} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}
