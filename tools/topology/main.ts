import { parseArgs } from 'node:util';
import path from 'node:path';
import { startTopology, topologyApiKey } from './topology.js';

/**
 * `npm run topology -- [--workers N] [--dir DIR] [--no-ui]`: Kiln's production shape on
 * this machine without Docker, in the foreground until Ctrl-C (or SIGTERM), which stops
 * every part in order: workers and API drain first, Postgres stops last.
 */
const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    dir: { type: 'string', default: path.resolve('data', 'topology') },
    'no-ui': { type: 'boolean', default: false },
  },
});
const workers = Number(values.workers);
if (!Number.isInteger(workers) || workers < 1 || workers > 16) {
  console.error('--workers must be a whole number from 1 to 16');
  process.exit(2);
}

const topology = await startTopology({ dir: values.dir, workers, ui: !values['no-ui'] });
let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: stopping every part (workers and API drain first)...`);
  topology.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const apiKey = await topologyApiKey(topology);
const p = topology.ports;
console.log(`
Kiln's production topology is running (state and logs under ${topology.dir}).

  API           ${topology.apiUrl}   (docs: ${topology.apiUrl}/docs; readiness: /readyz)
  API key       ${apiKey}
  Admin token   ${topology.adminToken}   (for /metrics and /v1/admin)
  Temporal      ${topology.temporalAddress}   (server metrics: http://127.0.0.1:${p.temporal.metrics}/metrics)
  Web UI        ${topology.uiUrl ?? '(not started: --no-ui)'}
  S3 (versitygw) ${topology.s3Endpoint}   bucket ${topology.kilnEnv.KILN_S3_BUCKET}
  Postgres      ${topology.databaseUrl}
${topology.workers.map((w, i) => `  ${w.name.padEnd(13)} pid ${w.pid}, metrics ${topology.workerMetricsUrls[i]}/metrics`).join('\n')}

Try:  curl -F file=@photo.jpg -F output_format=webp -H "Authorization: Bearer ${apiKey}" ${topology.apiUrl}/v1/conversions
Press Ctrl-C to stop everything.`);
