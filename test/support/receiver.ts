import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { checkWebhookBody } from './contract.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  receivedAt: number;
  /** The Temporal server's clock when the request arrived, when the receiver was given one. */
  serverTime?: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Milliseconds to hold the request before answering, as a slow receiver would. */
  delayMs?: number;
}

/**
 * A real HTTP receiver on loopback. Each request takes the next reply from `replies`
 * (the last one repeats), or what `options.decide` answers for it when given; every
 * request is kept for inspection.
 */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** TCP connections accepted, so a test can prove none was made. */
  connections: number;
  replies: Reply[];
  close(): Promise<void>;
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
}

export async function startReceiver(
  replies: Reply[] = [{ status: 200 }],
  options: { host?: string; clock?: () => Promise<number>; decide?: (request: ReceivedRequest) => Reply } = {},
): Promise<Receiver> {
  const host = options.host ?? '127.0.0.1';
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    connections: 0,
    replies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    waitForRequests: async (count, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (receiver.requests.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver got ${receiver.requests.length} of ${count} requests in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return receiver.requests;
    },
  };
  let served = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void answer());
    const answer = async (): Promise<void> => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        serverTime: options.clock ? await options.clock() : undefined,
      };
      receiver.requests.push(received);
      const reply = options.decide?.(received) ?? receiver.replies[Math.min(served, receiver.replies.length - 1)] ?? { status: 200 };
      served++;
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    };
  });
  server.on('connection', (socket) => {
    receiver.connections++;
    socket.unref();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://${host.includes(':') ? `[${host}]` : host}:${receiver.port}/hooks`;
  return receiver;
}

/**
 * Verifies a delivery the way receivers do: the official Standard Webhooks package, then the
 * sha256= header, which through a rotation's overlap is signed with the secret in force
 * before it (`singleHeaderSecret`).
 */
export function verifyDelivery(request: ReceivedRequest, secret: string, singleHeaderSecret = secret): Record<string, unknown> {
  const payload = verifySignatures(request, secret, singleHeaderSecret);
  // What was delivered is also what the OpenAPI document's webhooks section promises.
  checkWebhookBody(payload);
  return payload;
}

/** The signatures of `verifyDelivery` alone, for a body a template shaped (which the OpenAPI document does not describe). */
export function verifySignatures(request: ReceivedRequest, secret: string, singleHeaderSecret = secret): Record<string, unknown> {
  const payload = new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  }) as Record<string, unknown>;
  const expected = `sha256=${createHmac('sha256', Buffer.from(singleHeaderSecret, 'utf8')).update(request.body).digest('hex')}`;
  if (request.headers['x-kiln-signature'] !== expected) throw new Error('X-Kiln-Signature does not match');
  return payload;
}
