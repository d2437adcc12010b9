import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { processAlive } from '../process-alive.js';

/** The embedded database is in use by another live process. */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database at ${dir} is in use by process ${pid} (a running kiln dev?): it belongs to one process at a time, ` +
        'and what another process writes to it is lost. Stop that process first, use its API (POST /v1/api-keys with the dev key, ' +
        'or POST /v1/admin/accounts with the admin token), or point DATABASE_URL at a real Postgres',
    );
  }
}

/**
 * Claims `dir` for this process with a lock file holding its pid; a lock left by a process
 * that has died (killed, crashed) is taken over. Answers the release.
 */
export function lockEmbeddedDatabase(dir: string): () => void {
  const file = path.join(dir, 'kiln.lock');
  for (let tries = 0; ; tries++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw error;
    }
    const holder = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) throw new EmbeddedDatabaseInUseError(dir, holder);
    // Its holder is gone: the lock is stale.
    rmSync(file, { force: true });
  }
}
