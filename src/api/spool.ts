import { readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from '../process-alive.js';

/**
 * Where uploads wait on disk until they are accepted: each API process spools under a
 * directory of its own, `<spool root>/<host>-<pid>`, so a process starting finds exactly what
 * the processes of its host that are gone left behind (killed mid-upload), whatever its age,
 * while processes still running beside it (a shared data directory) keep theirs.
 */
export function processSpoolDir(root: string, host = os.hostname(), pid = process.pid): string {
  return path.join(root, `${host}-${pid}`);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/**
 * Removes what uploads cut short left under `root` and answers how many files went: the
 * directories of this host's processes that are gone, whole; anything older than `maxAgeMs`
 * elsewhere (another host's process sharing the directory, which this one cannot ask; a live
 * request never holds a file that long, the server times it out first).
 */
export async function sweepSpool(root: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  const host = os.hostname();
  let removed = 0;
  for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(root, entry.name);
    const owner = /^(.+)-(\d+)$/.exec(entry.name);
    if (entry.isDirectory() && owner?.[1] === host && Number(owner[2]) !== process.pid && !processAlive(Number(owner[2]))) {
      removed += (await filesUnder(full)).length;
      await rm(full, { recursive: true, force: true });
      continue;
    }
    for (const file of entry.isDirectory() ? await filesUnder(full) : [full]) {
      const info = await stat(file).catch(() => undefined);
      if (info && now - info.mtimeMs > maxAgeMs) {
        await rm(file, { force: true });
        removed += 1;
      }
    }
  }
  return removed;
}
