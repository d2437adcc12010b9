import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KilnConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { issueApiKeyForAccountName } from '../db/accounts.js';
import { accountForApiKey } from '../db/api-keys.js';
import { randomAlnum } from '../ids.js';
import { startDevServer } from '../temporal/dev-server.js';
import { locateTemporalCli } from '../temporal/temporal-binaries.js';
import { blobStoreFor, logWebhookAllowList, PublicUrl } from '../roles/wiring.js';
import { startApiRole } from '../roles/api.js';
import { startWorkerRole } from '../roles/worker.js';
import { connectTemporal, installTemporalRuntime } from '../temporal/connection.js';
import { log } from '../log.js';
import { readOrCreateSecret } from './secrets.js';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { onShutdown } from './shutdown.js';

const DEV_ACCOUNT = 'dev';
const DEV_WEBHOOK_CIDRS = ['127.0.0.0/8', '::1/128'];

/** The dev API key from `<data dir>/dev-api-key` if it still works, else a new key for the `dev` account. */
async function devApiKey(db: Kysely<Database>, file: string): Promise<string> {
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key && (await accountForApiKey(db, key))) return key;
  }
  const { key } = (await issueApiKeyForAccountName(db, DEV_ACCOUNT, 'kiln dev')).apiKey;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * `kiln dev` (what `npm start` runs): everything on embedded defaults in one process:
 * a Temporal dev server with its Web UI persisted under the data dir, embedded Postgres,
 * local blobs, the API and the workers.
 */
export async function runDev(baseConfig: KilnConfig): Promise<void> {
  installTemporalRuntime(baseConfig.temporalLogLevel);
  const { dataDir } = baseConfig;
  mkdirSync(dataDir, { recursive: true });
  const config: KilnConfig = {
    ...baseConfig,
    adminToken: baseConfig.adminToken ?? readOrCreateSecret(path.join(dataDir, 'admin-token'), () => `kiln_admin_${randomAlnum(40)}`),
    signingKey: baseConfig.signingKey ?? readOrCreateSecret(path.join(dataDir, 'signing-key'), () => randomAlnum(64)),
    // Receivers on this machine are the common case while developing.
    webhookAllowedCidrs: baseConfig.webhookAllowedCidrs ?? [...DEV_WEBHOOK_CIDRS],
    temporalUiUrl: baseConfig.temporalUiUrl ?? (baseConfig.temporalAddress ? undefined : `http://127.0.0.1:${baseConfig.temporalUiPort}`),
  };
  const stops: Array<() => Promise<void>> = [];
  /** Stops what has started so far, newest first; each part at most once. */
  const stopAll = async (): Promise<void> => {
    while (stops.length > 0) {
      try {
        await stops.pop()!();
      } catch (error) {
        log('error while stopping', error);
      }
    }
  };
  onShutdown(stopAll);
  try {
    await startAndRun(config, stops);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function startAndRun(config: KilnConfig, stops: Array<() => Promise<void>>): Promise<void> {
  const { dataDir } = config;

  let temporalAddress = config.temporalAddress;
  if (!temporalAddress) {
    log(`starting the Temporal dev server (gRPC ${config.temporalPort}, Web UI ${config.temporalUiPort}, state in ${path.join(dataDir, 'temporal.db')})`);
    const server = await startDevServer({
      port: config.temporalPort,
      uiPort: config.temporalUiPort,
      dbFilename: path.join(dataDir, 'temporal.db'),
      namespace: config.temporalNamespace,
      sqlitePragmas: config.temporalSqlitePragmas,
      cli: locateTemporalCli(config),
      cacheDir: config.cacheDir,
      log,
    });
    stops.push(() => server.stop());
    temporalAddress = server.address;
  }

  log(config.databaseUrl ? 'connecting to Postgres at DATABASE_URL' : `opening the embedded Postgres in ${path.join(dataDir, 'pglite')}`);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir });
  stops.push(() => database.close());
  const key = await devApiKey(database.db, path.join(dataDir, 'dev-api-key'));

  const temporal = await connectTemporal(temporalAddress, config.temporalNamespace);
  stops.push(() => temporal.close());
  const blobs = blobStoreFor(config);

  const publicUrl = new PublicUrl(config);
  const worker = await startWorkerRole(config, database, temporal, blobs, publicUrl);
  stops.push(async () => {
    worker.stop();
    await worker.done;
  });
  // One pool of first attempts for the whole process: the worker's, which outlives the API.
  const api = await startApiRole(config, database, temporal.client, blobs, publicUrl, worker.deliveries);
  logWebhookAllowList(config);
  stops.push(() => api.stop());

  const uiUrl = config.temporalAddress ? '(external Temporal: see its own Web UI)' : `http://127.0.0.1:${config.temporalUiPort}`;
  console.log(
    [
      '',
      'Kiln is running.',
      `  API             ${api.api.url}`,
      `  Temporal Web UI ${uiUrl}`,
      `  Dev API key     ${key}   (also in ${path.join(dataDir, 'dev-api-key')})`,
      `  Admin token     ${config.adminToken}   (also in ${path.join(dataDir, 'admin-token')})`,
      '',
      'Try:',
      `  curl -F file=@photo.jpg -F output_format=webp -H "Authorization: Bearer $(cat ${path.join(dataDir, 'dev-api-key')})" ${api.api.url}/v1/conversions`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  await worker.done;
}
