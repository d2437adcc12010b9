import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { processSpoolDir, sweepSpool } from '../../src/api/spool.js';
import { tempDir } from '../support/temp.js';

test('a starting API removes at once what processes of its host that are gone spooled; others keep theirs until they are past any request', async () => {
  const root = tempDir('spool');
  try {
    // A pid that has certainly ended: a process run to its end.
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    const place = (dir: string, name: string, ageMs = 0): string => {
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, name);
      writeFileSync(file, 'partial upload');
      const when = new Date(Date.now() - ageMs);
      utimesSync(file, when, when);
      return file;
    };
    const hour = 3_600_000;
    const leftByDead = place(processSpoolDir(root.path, undefined, dead), 'upload-1');
    const ours = place(processSpoolDir(root.path), 'upload-2');
    const livingFresh = place(processSpoolDir(root.path, undefined, 1), 'upload-3');
    const livingOld = place(processSpoolDir(root.path, undefined, 1), 'upload-4', hour);
    const otherHostFresh = place(processSpoolDir(root.path, 'elsewhere', dead), 'upload-5');
    const otherHostOld = place(processSpoolDir(root.path, 'elsewhere', dead), 'upload-6', hour);
    const legacyOld = place(root.path, 'upload-7', hour);

    assert.equal(await sweepSpool(root.path, 11 * 60_000), 4);
    assert.ok(!existsSync(path.dirname(leftByDead)), 'a gone process of this host: its directory, however fresh');
    for (const kept of [ours, livingFresh, otherHostFresh]) assert.ok(existsSync(kept), `${kept} is kept`);
    for (const gone of [livingOld, otherHostOld, legacyOld]) assert.ok(!existsSync(gone), `${gone} is past any request`);
  } finally {
    root.remove();
  }
});
