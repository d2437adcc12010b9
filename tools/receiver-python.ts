import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/paths.js';
import { cacheDir, run } from './build-support.js';

/**
 * Tooling for the receiver-compatibility tests: a Python virtualenv with what the receivers
 * other services publish import (test/receivers/requirements.txt), built once from PyPI
 * and cached under Kiln's cache directory, keyed by the requirements' contents.
 */

const requirements = path.join(projectRoot, 'test', 'receivers', 'requirements.txt');

/** The virtualenv's python, building the virtualenv when needed. */
export async function findOrBuildReceiverPython(log: (line: string) => void = console.error): Promise<string> {
  const key = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const home = path.join(cacheDir(), `receivers-python-${key}`);
  const python = path.join(home, 'bin', 'python');
  // A virtualenv names its own path in its scripts, so it is built where it stays; the marker says it was finished.
  const finished = path.join(home, '.kiln-complete');
  if (existsSync(finished)) return python;
  log(`Installing the reference receivers' Python packages from PyPI into ${home} (once)...`);
  rmSync(home, { recursive: true, force: true });
  await run('python3', ['-m', 'venv', home], { log, label: 'venv' });
  await run(path.join(home, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements], { log, label: 'pip' });
  writeFileSync(finished, '');
  return python;
}
