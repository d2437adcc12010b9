import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { connectPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { patientPool } from '../../src/db/patient-pool.js';
import { freePort } from '../../src/free-port.js';
import { ManagedProcess } from '../../tools/topology/managed-process.js';
import { postgresProcess, postgresUrl } from '../../tools/topology/postgres.js';
import { tempDir } from '../support/temp.js';

/**
 * A real PostgreSQL server (Debian's) stopped under Kiln's pool: a query made while it is
 * down waits and succeeds once it is back, instead of failing the activity or request that
 * made it; past the patience it fails.
 */
const dir = tempDir('patient-pool');
let postgres: ManagedProcess;
let database: DatabaseHandle;
let impatient: DatabaseHandle;
let port: number;

before(async () => {
  // Postgres runs as its own user, which must reach its directory under this one.
  chmodSync(dir.path, 0o755);
  port = await freePort();
  postgres = new ManagedProcess({ name: 'postgres', ...postgresProcess({ dir: path.join(dir.path, 'pg'), port }) }, path.join(dir.path, 'logs'));
  await postgres.start();
  database = connectPostgres(postgresUrl(port, 'postgres'));
  impatient = connectPostgres(postgresUrl(port, 'postgres'), 2, 1500);
});

after(async () => {
  await database?.close();
  await impatient?.close();
  await postgres?.stop();
  dir.remove();
});

test('a query made while Postgres restarts waits for it and answers', async () => {
  assert.equal((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows[0]?.one, 1);
  await postgres.stop();
  const stoppedAt = Date.now();
  const pending = sql<{ two: number }>`select 2 as two`.execute(database.db);
  let settled = false;
  void pending.finally(() => (settled = true)).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  assert.equal(settled, false, 'still waiting while the server is down');
  await postgres.start();
  assert.equal((await pending).rows[0]?.two, 2);
  assert.ok(Date.now() - stoppedAt >= 2000);
});

test('past its patience, a query fails with the connection error', async () => {
  await postgres.stop();
  try {
    const started = Date.now();
    await assert.rejects(sql`select 1`.execute(impatient.db), (error: Error & { code?: string }) => error.code === 'ECONNREFUSED');
    const waited = Date.now() - started;
    assert.ok(waited >= 1000 && waited < 5000, `gave up after ${waited} ms`);
  } finally {
    await postgres.start();
  }
});

test('a connection the server ends while it is checked out fails its next statement, not the process', async () => {
  const pool = new pg.Pool({ connectionString: postgresUrl(port, 'postgres'), max: 1 });
  pool.on('error', () => undefined);
  try {
    const client = (await patientPool(pool).connect()) as pg.PoolClient;
    const { pid } = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!;
    // Not events.once: it would settle on the connection's error, before the end.
    const ended = new Promise((resolve) => client.once('end', resolve));
    // The server's notice comes between statements, while no query of this connection waits.
    await sql`select pg_terminate_backend(${pid})`.execute(database.db);
    await ended;
    await assert.rejects(client.query('select 1'));
    client.release();
    assert.equal((await pool.query<{ one: number }>('select 1 as one')).rows[0]?.one, 1, 'the pool opened another connection');
  } finally {
    await pool.end();
  }
});
