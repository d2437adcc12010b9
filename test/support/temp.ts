import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(label: string): { path: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `kiln-${label}-`));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
