import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, chownSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './temp.js';

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

function findBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const candidate = path.join(root, version, 'bin', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`PostgreSQL's ${name} was not found under ${root}: install Debian's postgresql package (.ci/run does)`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const initdb = findBin('initdb');
  const pgCtl = findBin('pg_ctl');
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
