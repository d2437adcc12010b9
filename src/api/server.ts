import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createApp } from './app.js';
import { REQUEST_TIMEOUT_MS } from './request-timeout.js';
import { problemBody, problemTitle } from './problem.js';
import { ApiError } from '../problem.js';
import type { ApiDependencies } from './context.js';

/**
 * The request line and headers together: room for a raw upload's query with every option at
 * its longest (webhook_metadata alone may be 16 KiB), well short of memory that matters.
 */
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * How long an idle connection stays open: longer than the idle timeouts of what sits in front
 * of Kiln (60 s on AWS load balancers and nginx's upstream keep-alive). Whoever closes an idle
 * connection first races the other's next request on it, which then fails: a 502 behind a
 * proxy, `fetch failed` for a client whose event loop was busy past Node's default 5 s.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * What Node's HTTP parser refuses before Koa sees it (headers past MAX_HEADER_BYTES, a
 * malformed request line) is answered as a problem too, not Node's bare status line.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const problem = new ApiError(
    tooLarge ? 431 : 400,
    tooLarge ? 'headers_too_large' : 'malformed_request',
    tooLarge ? `the request line and headers together must stay under ${MAX_HEADER_BYTES / 1024} KiB` : 'the request could not be parsed as HTTP',
  );
  const body = JSON.stringify(problemBody(problem));
  socket.end(
    `HTTP/1.1 ${problem.status} ${problemTitle(problem.status)}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export interface RunningApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A host clients can reach: a wildcard bind address is reached through loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startApiServer(deps: ApiDependencies, port: number, host: string): Promise<RunningApi> {
  const app = createApp(deps);
  const handle = app.callback();
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => void handle(req, res));
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://${urlHost(host)}:${actualPort}`,
    port: actualPort,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
