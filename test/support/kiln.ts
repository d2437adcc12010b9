import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig, type KilnConfig } from '../../src/config.js';
import { connectPostgres, migrateToLatest, openEmbeddedPostgres, type DatabaseHandle } from '../../src/db/database.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { blobStoreFor, PublicUrl } from '../../src/roles/wiring.js';
import { startApiRole, type ApiRole } from '../../src/roles/api.js';
import { startWorkerRole, type WorkerRole } from '../../src/roles/worker.js';
import { devServerEnvironment, installTestRuntime } from './temporal.js';
import { startTestPostgres, type TestPostgres } from './postgres.js';
import { tempDir } from './temp.js';

export type DatabaseKind = 'embedded' | 'postgres';

/**
 * A whole Kiln for a test: a real Temporal dev server, a real database (embedded PGlite
 * or a real PostgreSQL server), the API on a free loopback port and the workers.
 */
export interface TestKiln {
  url: string;
  config: KilnConfig;
  adminToken: string;
  database: DatabaseHandle;
  /** The real PostgreSQL server's URL (kind `postgres`), for more API processes on the same database. */
  databaseUrl: string | undefined;
  blobs: BlobStore;
  env: TestWorkflowEnvironment;
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  /** Pids of the running workers' converter processes. */
  converterPids(): number[];
  stop(): Promise<void>;
}

export async function startTestKiln(kind: DatabaseKind, env: Record<string, string> = {}): Promise<TestKiln> {
  installTestRuntime();
  const dir = tempDir('api');
  const adminToken = 'test-admin-token-0123456789';
  let postgres: TestPostgres | undefined;
  let database: DatabaseHandle;
  if (kind === 'postgres') {
    postgres = await startTestPostgres();
    database = connectPostgres(postgres.url);
  } else {
    database = await openEmbeddedPostgres(path.join(dir.path, 'pglite'));
  }
  await migrateToLatest(database.db);
  const temporal = await devServerEnvironment();
  const config = loadConfig({
    KILN_DATA_DIR: dir.path,
    PORT: '0',
    KILN_ADMIN_TOKEN: adminToken,
    KILN_SIGNING_KEY: 'test-signing-key',
    KILN_MAX_UPLOAD_BYTES: String(4 * 1024 * 1024),
    KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: '5',
    ...env,
  });
  const blobs = blobStoreFor(config);
  let worker: WorkerRole | undefined;
  const publicUrl = new PublicUrl(config);
  const startWorkers = async (): Promise<void> => {
    worker = await startWorkerRole(config, database, { native: temporal.nativeConnection, client: temporal.client }, blobs, publicUrl);
  };
  const stopWorkers = async (): Promise<void> => {
    worker?.stop();
    await worker?.done;
    worker = undefined;
  };
  await startWorkers();
  const api: ApiRole = await startApiRole(config, database, temporal.client, blobs, publicUrl);
  return {
    url: api.api.url,
    config,
    adminToken,
    database,
    databaseUrl: postgres?.url,
    blobs,
    env: temporal,
    startWorkers,
    stopWorkers,
    converterPids: () => worker?.converter.pids() ?? [],
    stop: async () => {
      await api.stop();
      await stopWorkers();
      await temporal.teardown();
      await database.close();
      postgres?.stop();
      dir.remove();
    },
  };
}
