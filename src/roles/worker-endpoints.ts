import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { processMetrics } from '../process-metrics.js';
import { log } from '../log.js';

export interface WorkerEndpoints {
  url: string;
  close: () => Promise<void>;
}

/**
 * A worker process's own small HTTP server (it has no API): `/livez` (the process answers),
 * `/readyz` (its Temporal workers are polling; 503 while starting or draining) and
 * `/metrics` (this process's image work, webhook attempts and purges, followed by the
 * Temporal SDK's metrics read from `sdkMetricsUrl`). Listens on loopback unless HOST says
 * otherwise: metrics name no account, but nothing here is for the public.
 */
export async function serveWorkerEndpoints(options: { host: string; port: number; ready: () => boolean; sdkMetricsUrl?: string }): Promise<WorkerEndpoints> {
  const server = http.createServer((request, response) => {
    const reply = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    if (path === '/livez') return reply(200, 'application/json', '{"status":"ok"}');
    if (path === '/readyz') {
      const ready = options.ready();
      return reply(ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ok' : 'not_ready' }));
    }
    if (path === '/metrics') {
      metricsText(options.sdkMetricsUrl).then(
        (text) => reply(200, processMetrics.contentType, text),
        (error: unknown) => {
          log('could not gather metrics', error);
          reply(500, 'text/plain', 'could not gather metrics\n');
        },
      );
      return;
    }
    reply(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function metricsText(sdkMetricsUrl: string | undefined): Promise<string> {
  const own = await processMetrics.metrics();
  if (!sdkMetricsUrl) return own;
  const sdk = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(3000) }).then((r) => (r.ok ? r.text() : ''));
  return `${own}\n${sdk}`;
}
