import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type KilnConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { EmbeddedDatabaseInUseError } from '../db/embedded-lock.js';
import { issueApiKeyForAccountName } from '../db/accounts.js';
import { blobStoreFor, logWebhookAllowList } from '../roles/wiring.js';
import { startApiRole } from '../roles/api.js';
import { startWorkerRole } from '../roles/worker.js';
import { serveWorkerEndpoints } from '../roles/worker-endpoints.js';
import { freePort } from '../free-port.js';
import { connectTemporal, installTemporalRuntime } from '../temporal/connection.js';
import { log, setLogLevel } from '../log.js';
import { runDev } from './dev.js';
import { onShutdown } from './shutdown.js';

/** Postgres and Temporal for the split `api` and `worker` processes, which share nothing in memory. */
async function connectBackends(config: KilnConfig, command: string, sdkMetricsAddress?: string) {
  if (!config.databaseUrl) {
    throw new ConfigError(`kiln ${command} needs DATABASE_URL (the embedded database belongs to one process: use kiln dev for that)`);
  }
  installTemporalRuntime(config.temporalLogLevel, sdkMetricsAddress);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const temporal = await connectTemporal(config.temporalAddress ?? '127.0.0.1:7233', config.temporalNamespace);
  const close = async (): Promise<void> => {
    await temporal.close();
    await database.close();
  };
  return { database, temporal, close };
}

async function runApi(config: KilnConfig): Promise<void> {
  const backends = await connectBackends(config, 'api');
  const role = await startApiRole(config, backends.database, backends.temporal.client, blobStoreFor(config));
  log(`API listening on ${role.api.url}`);
  logWebhookAllowList(config);
  onShutdown(async () => {
    await role.stop();
    await backends.close();
  });
}

async function runWorker(config: KilnConfig): Promise<void> {
  // The SDK serves its metrics on a loopback port of its own; the worker's /metrics passes them on.
  const sdkMetricsAddress = config.metricsPort ? `127.0.0.1:${await freePort()}` : undefined;
  const backends = await connectBackends(config, 'worker', sdkMetricsAddress);
  const role = await startWorkerRole(config, backends.database, backends.temporal, blobStoreFor(config));
  const endpoints = config.metricsPort
    ? await serveWorkerEndpoints({ host: config.host, port: config.metricsPort, ready: role.ready, sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics` })
    : undefined;
  log(
    `worker ${config.workerName} polling kiln, kiln-convert (concurrency ${config.convertConcurrency}), kiln-deliver (concurrency ${config.deliverConcurrency})` +
      (endpoints ? `; /metrics, /livez, /readyz on ${endpoints.url}` : ''),
  );
  logWebhookAllowList(config);
  onShutdown(async () => {
    // Not ready at once (Temporal stops handing it tasks); running activities get KILN_SHUTDOWN_GRACE_SECONDS to finish.
    role.stop();
    await role.done;
    await endpoints?.close();
    await backends.close();
  });
  await role.done;
}

async function runMigrate(config: KilnConfig): Promise<void> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await database.close();
  log('migrations applied');
}

async function runKeysCreate(config: KilnConfig, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { account: { type: 'string' }, name: { type: 'string' } } });
  if (!values.account) throw new ConfigError('kiln keys create needs --account NAME');
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const issued = await issueApiKeyForAccountName(database.db, values.account, values.name ?? 'cli');
    console.log(
      JSON.stringify({
        account_id: issued.account.id,
        account: issued.account.name,
        api_key: issued.apiKey.key,
        created_account: issued.createdAccount,
      }),
    );
  } finally {
    await database.close();
  }
}

/**
 * Runs `kiln dev|api|worker|migrate|keys create --account`. A setting that does not hold, or
 * an embedded database another process has, exits 2 with its message; anything else, 1.
 */
export async function runServerCommand(command: ServerCommand, rest: string[]): Promise<void> {
  try {
    const config = loadConfig();
    setLogLevel(config.logLevel);
    switch (command) {
      case 'dev':
        return await runDev(config);
      case 'api':
        return await runApi(config);
      case 'worker':
        return await runWorker(config);
      case 'migrate':
        return await runMigrate(config);
      case 'keys':
        return await runKeysCreate(config, rest.slice(1));
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof EmbeddedDatabaseInUseError) {
      console.error(`kiln: ${error.message}`);
      process.exit(2);
    }
    log('fatal', error);
    process.exit(1);
  }
}

export type ServerCommand = 'dev' | 'api' | 'worker' | 'migrate' | 'keys';
