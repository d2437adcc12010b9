import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { TestKiln } from './kiln.js';
import { waitUntil } from './processes.js';

/**
 * Errors nothing caught. In production one would end the process (Kiln stops on them);
 * Node's test runner swallows them instead, so tests that import this module record them
 * and assertNothingLeft fails on any.
 */
const uncaught: unknown[] = [];
process.on('uncaughtException', (error) => uncaught.push(error));
process.on('unhandledRejection', (error) => uncaught.push(error));

function spoolDirOf(kiln: TestKiln): string {
  return path.join(kiln.config.dataDir, 'spool');
}

/** The files under the spool (each API process spools in a directory of its own). */
export function spoolFiles(kiln: TestKiln): string[] {
  const dir = spoolDirOf(kiln);
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
    : [];
}

/** Descriptors this process holds open on files under `dir` (Kiln runs in the test's process). */
function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Nothing a refused or abandoned request could leave: no uncaught error, no spooled
 * upload, no open handle in the spool, and no blob that lacks its conversion row.
 */
export async function assertNothingLeft(kiln: TestKiln): Promise<void> {
  assert.deepEqual(uncaught.map(String), [], 'no error escaped uncaught (each would crash a real Kiln)');
  const spool = spoolDirOf(kiln);
  await waitUntil(() => spoolFiles(kiln).length === 0 && openFilesUnder(spool).length === 0, 10_000, 'the spool to be empty and closed', 25);
  const blobDirs = existsSync(path.join(kiln.config.blobDir, 'conversions')) ? readdirSync(path.join(kiln.config.blobDir, 'conversions')) : [];
  const rows = new Set((await kiln.database.db.selectFrom('conversions').select('id').execute()).map((r) => r.id));
  assert.deepEqual(
    blobDirs.filter((id) => !rows.has(id)),
    [],
    'every blob belongs to a conversion row',
  );
  const health = await fetch(`${kiln.url}/healthz`);
  assert.equal(health.status, 200, 'Kiln is still healthy');
}
