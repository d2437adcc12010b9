/**
 * A webhook receiver in a process of its own, for benchmarks: its CPU is then the
 * receiver's, not counted as Kiln's. Answers every POST with 204 and reports each arrival
 * (the `webhook-id` and the wall-clock time it came in) to its parent over IPC, in batches.
 * Prints nothing; the parent learns the port from its first message.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMessage = { port: number } | { arrivals: Array<[id: string, receivedAt: number]> };

let pending: Array<[string, number]> = [];
const flush = (): void => {
  if (pending.length === 0) return;
  process.send?.({ arrivals: pending } satisfies ReceiverMessage);
  pending = [];
};
setInterval(flush, 20).unref();

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    pending.push([String(req.headers['webhook-id']), Date.now()]);
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port } satisfies ReceiverMessage));
process.on('disconnect', () => process.exit(0));
