import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationProvider, type Migration } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { PGliteDialect, SessionGate } from './pglite-dialect.js';
import { RequestsUnderWay } from '../requests-under-way.js';
import { lockEmbeddedDatabase } from './embedded-lock.js';
import { log } from '../log.js';
import { DEFAULT_CONNECT_PATIENCE_MS, patientPool } from './patient-pool.js';
import * as initial from './migrations/0001_initial.js';
import * as webhooks from './migrations/0002_webhooks.js';
import * as apiKeyNames from './migrations/0003_api_key_names.js';
import * as idempotencyKeys from './migrations/0004_idempotency_keys.js';
import * as unattendedDeliveries from './migrations/0005_unattended_deliveries.js';
import * as jobs from './migrations/0006_jobs.js';
import * as eventOrder from './migrations/0007_event_order.js';
import * as webhookEvents from './migrations/0008_webhook_events.js';
import * as endpointHeaders from './migrations/0009_endpoint_headers.js';
import * as receiverFormats from './migrations/0010_receiver_formats.js';
import * as outputFrames from './migrations/0011_output_frames.js';
import * as presets from './migrations/0012_presets.js';
import * as sourceUrl from './migrations/0013_source_url.js';
import * as renditions from './migrations/0014_renditions.js';
import * as assets from './migrations/0015_assets.js';
import * as retention from './migrations/0016_retention.js';
import * as assetKeys from './migrations/0017_asset_keys.js';
import * as limits from './migrations/0018_limits.js';
import * as throttle from './migrations/0019_throttle.js';
import * as deliveryClaims from './migrations/0020_delivery_claims.js';
import * as eventCommitOrder from './migrations/0021_event_commit_order.js';
import * as attemptRequests from './migrations/0022_attempt_requests.js';
import * as signInLinks from './migrations/0023_sign_in_links.js';
import * as inputPages from './migrations/0024_input_pages.js';
import * as eventNotify from './migrations/0025_event_notify.js';
import * as eventFanout from './migrations/0026_event_fanout.js';

// Postgres returns bigint (int8) as a string to avoid precision loss; Kiln's bigints are byte counts far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_webhooks': webhooks,
  '0003_api_key_names': apiKeyNames,
  '0004_idempotency_keys': idempotencyKeys,
  '0005_unattended_deliveries': unattendedDeliveries,
  '0006_jobs': jobs,
  '0007_event_order': eventOrder,
  '0008_webhook_events': webhookEvents,
  '0009_endpoint_headers': endpointHeaders,
  '0010_receiver_formats': receiverFormats,
  '0011_output_frames': outputFrames,
  '0012_presets': presets,
  '0013_source_url': sourceUrl,
  '0014_renditions': renditions,
  '0015_assets': assets,
  '0016_retention': retention,
  '0017_asset_keys': assetKeys,
  '0018_limits': limits,
  '0019_throttle': throttle,
  '0020_delivery_claims': deliveryClaims,
  '0021_event_commit_order': eventCommitOrder,
  '0022_attempt_requests': attemptRequests,
  '0023_sign_in_links': signInLinks,
  '0024_input_pages': inputPages,
  '0025_event_notify': eventNotify,
  '0026_event_fanout': eventFanout,
};

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

export interface DatabaseHandle {
  db: Kysely<Database>;
  /**
   * The same database for work nobody is waiting on (webhook deliveries). On the embedded
   * database, which runs one statement at a time in this process, its statements give way
   * to `db`'s (pglite-dialect.ts); on a server it is `db`.
   */
  background: Kysely<Database>;
  /**
   * This process's API requests under way (the API counts them here): its background work
   * gives way to them. While any is under way, the embedded database paces `background`'s
   * statements, and webhook first attempts on it take fewer slots (roles/wiring.ts).
   */
  requests: RequestsUnderWay;
  /** `postgres` for a server reached by DATABASE_URL, `embedded` for PGlite under the data dir. */
  kind: 'postgres' | 'embedded';
  /**
   * Hears `channel`'s notifications (Postgres LISTEN) until the answer is called. On a
   * server, over a connection of its own that is opened again after it drops (what was
   * sent meanwhile is missed: a listener must not depend on every notification).
   */
  listen(channel: string, heard: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Wait between attempts to open a listening connection again. */
const LISTEN_RETRY_MS = 1000;

/** LISTEN on a connection of its own to the server at `databaseUrl`, kept open until the answer is called. */
async function listenOnServer(databaseUrl: string, channel: string, heard: (payload: string) => void): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const open = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: databaseUrl });
    next.on('notification', (message) => heard(message.payload ?? ''));
    next.on('error', (error) => {
      log(`the connection listening on ${channel} ended: ${error.message}`);
      void next.end().catch(() => undefined);
      if (client === next) reopen();
    });
    await next.connect();
    await next.query(`LISTEN ${channel}`);
    if (stopped) {
      await next.end();
      return;
    }
    client = next;
  };
  const reopen = (): void => {
    client = undefined;
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      open().catch((error: unknown) => {
        log(`could not listen on ${channel} yet`, error);
        reopen();
      });
    }, LISTEN_RETRY_MS);
    retry.unref();
  };
  await open().catch((error: unknown) => {
    log(`could not listen on ${channel} yet`, error);
    reopen();
  });
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}

export function connectPostgres(databaseUrl: string, maxConnections = 10, connectPatienceMs = DEFAULT_CONNECT_PATIENCE_MS): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: maxConnections });
  // An idle connection the server ends (a restart, a failover) emits an error; unheard, it
  // would crash the process. The pool drops that connection and opens another when asked.
  pool.on('error', (error) => log(`a pooled database connection ended: ${error.message}`));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: patientPool(pool, connectPatienceMs) }) });
  return {
    db,
    background: db,
    requests: new RequestsUnderWay(),
    kind: 'postgres',
    listen: (channel, heard) => listenOnServer(databaseUrl, channel, heard),
    close: () => db.destroy(),
  };
}

/**
 * Postgres settings of the embedded database. Its shared buffers are memory of Kiln's own
 * process, touched when the server starts: PGlite's default of 128 MB held 120 MiB more
 * resident than 16 MB does, for a database whose working set (the open conversions and
 * deliveries, and the newest events) fits in a few megabytes; the files' pages beyond that
 * stay in the operating system's cache.
 */
const EMBEDDED_POSTGRESQL_CONF = ['shared_buffers = 16MB'];

/**
 * Creates the embedded database's cluster in `dir` from a process of its own. PGlite runs
 * initdb in a second WebAssembly instance whose memory this process would keep: opening a
 * fresh directory here peaked at 840 MiB resident, against 282 MiB for opening it once
 * created.
 */
async function initEmbeddedInChild(dir: string): Promise<void> {
  const pgliteEntry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const script = `const { PGlite } = await import(${JSON.stringify(pgliteEntry)});
const pglite = await PGlite.create(process.argv[1], { postgresqlconf: JSON.parse(process.argv[2]) });
await pglite.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, JSON.stringify(EMBEDDED_POSTGRESQL_CONF)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`creating the embedded database in ${dir} failed (${code}): ${stderr}`);
}

/**
 * PGlite (Postgres compiled to WebAssembly) stored under `dir`, in this process, through
 * Kysely's Postgres SQL (pglite-dialect.ts): the same queries serve the embedded and a
 * real database.
 */
export async function openEmbeddedPostgres(dir: string): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(dir, { recursive: true });
  const release = lockEmbeddedDatabase(dir);
  let pglite;
  try {
    if (!existsSync(path.join(dir, 'PG_VERSION'))) await initEmbeddedInChild(dir);
    pglite = await PGlite.create(dir, { postgresqlconf: EMBEDDED_POSTGRESQL_CONF });
  } catch (error) {
    release();
    throw error;
  }
  const requests = new RequestsUnderWay();
  const gate = new SessionGate(requests);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite, gate) });
  const background = new Kysely<Database>({ dialect: new PGliteDialect(pglite, gate, 'background') });
  return {
    db,
    background,
    requests,
    kind: 'embedded',
    listen: (channel, heard) => pglite.listen(channel, heard),
    close: async () => {
      try {
        await Promise.all([db.destroy(), background.destroy()]);
        await pglite.close();
      } finally {
        release();
      }
    },
  };
}

/** Opens the configured database (DATABASE_URL, else embedded under the data dir) and migrates it. */
export async function openDatabase(options: { databaseUrl?: string; dataDir: string }): Promise<DatabaseHandle> {
  const handle = options.databaseUrl ? connectPostgres(options.databaseUrl) : await openEmbeddedPostgres(path.join(options.dataDir, 'pglite'));
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

/** One round trip to the database, for health checks. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
