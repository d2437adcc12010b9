import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { ApiDependencies } from './context.js';

/** Uploads of large files on slow links take a while; Node's default would cut them off. */
export const REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

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
  const server = http.createServer((req, res) => void handle(req, res));
  server.requestTimeout = REQUEST_TIMEOUT_MS;
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
