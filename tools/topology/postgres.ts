import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { ProcessSpec } from './managed-process.js';

/** Debian's PostgreSQL (the `postgresql` package) binaries, newest major first. */
export function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const candidate = path.join(root, version, 'bin', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`PostgreSQL's ${name} was not found under ${root}: install Debian's postgresql package (scripts/install-system-deps.sh does)`);
}

/** The server refuses to run as root; as root, run its commands as the `postgres` user. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]];
}

function chownToServerUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
}

export const POSTGRES_MAX_CONNECTIONS = 300;

export interface PostgresOptions {
  /** Holds `data/` (the cluster, kept across runs) and `socket/`. */
  dir: string;
  port: number;
}

/** Superuser URL of `database` on the topology's server (trust authentication on loopback only). */
export function postgresUrl(port: number, database: string): string {
  return `postgres://postgres@127.0.0.1:${port}/${database}`;
}

/**
 * A PostgreSQL server in the foreground (so the topology can stop, kill and restart it like
 * any process), its cluster created on first use under `dir` and kept across runs.
 */
export function postgresProcess(options: PostgresOptions): Omit<ProcessSpec, 'name'> {
  const dataDir = path.join(options.dir, 'data');
  const socketDir = path.join(options.dir, 'socket');
  mkdirSync(socketDir, { recursive: true });
  chownToServerUser(options.dir);
  chownToServerUser(socketDir);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const [command, args] = asServerUser(postgresBin('initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8']);
    const result = spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`initdb failed: ${result.stderr || result.stdout}`);
  }
  const [command, args] = asServerUser(postgresBin('postgres'), [
    '-D',
    dataDir,
    '-p',
    String(options.port),
    '-k',
    socketDir,
    '-c',
    'listen_addresses=127.0.0.1',
    // Temporal's four services and every Kiln process keep pools.
    '-c',
    `max_connections=${POSTGRES_MAX_CONNECTIONS}`,
  ]);
  return {
    command,
    args,
    // SIGTERM waits for every client to leave; SIGINT is the fast shutdown an operator means.
    stopSignal: 'SIGINT',
    ready: () => canQuery(postgresUrl(options.port, 'postgres')),
  };
}

async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates each of `databases` that does not exist yet. */
export async function ensureDatabases(port: number, databases: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl(port, 'postgres') });
  await client.connect();
  try {
    for (const name of databases) {
      const found = await client.query('select 1 from pg_database where datname = $1', [name]);
      // Names are the topology's own constants, never input.
      if (found.rowCount === 0) await client.query(`create database "${name}"`);
    }
  } finally {
    await client.end();
  }
}
