import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';
import { freePort } from '../../src/free-port.js';
import { postgresBin } from '../../tools/topology/postgres.js';

/**
 * A throwaway real PostgreSQL server (Debian's `postgresql` package, installed by .ci/run)
 * in a temp dir on a free loopback port. Runs as the `postgres` user when the tests run
 * as root, since the server refuses to start as root.
 */
export interface TestPostgres {
  url: string;
  /** The server's main process (its backends are its children), for benchmarks that count its CPU. */
  pid(): number | undefined;
  stop(): void;
}

export { freePort };

export async function startTestPostgres(): Promise<TestPostgres> {
  const initdb = postgresBin('initdb');
  const pgCtl = postgresBin('pg_ctl');
  const dir = tempDir('pg');
  const dataDir = path.join(dir.path, 'data');
  const socketDir = path.join(dir.path, 'sock');
  mkdirSync(socketDir);
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]): void => {
    const full = asRoot ? (['runuser', ['-u', 'postgres', '--', command, ...args]] as const) : ([command, args] as const);
    const result = spawnSync(full[0], full[1], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
  };
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir.path, uid, gid);
    chownSync(socketDir, uid, gid);
  }
  run(initdb, ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  run(pgCtl, [
    '-D',
    dataDir,
    '-w',
    '-l',
    path.join(dataDir, 'server.log'),
    '-o',
    `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`,
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid: () => {
      try {
        return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      } catch {
        return undefined;
      }
    },
    stop: () => {
      try {
        run(pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']);
      } finally {
        dir.remove();
      }
    },
  };
}
