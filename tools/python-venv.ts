import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/paths.js';
import { cacheDir, run } from './build-support.js';

/**
 * Python tooling for the tests: a virtualenv per requirements file, built once from PyPI
 * and cached under Kiln's cache directory, keyed by the requirements' contents.
 */
async function findOrBuildVenv(name: string, requirementsFile: string, log: (line: string) => void): Promise<string> {
  const requirements = path.join(projectRoot, requirementsFile);
  const key = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const home = path.join(cacheDir(), `${name}-python-${key}`);
  const python = path.join(home, 'bin', 'python');
  // A virtualenv names its own path in its scripts, so it is built where it stays; the marker says it was finished.
  const finished = path.join(home, '.kiln-complete');
  if (existsSync(finished)) return python;
  log(`Installing ${requirementsFile} from PyPI into ${home} (once)...`);
  rmSync(home, { recursive: true, force: true });
  await run('python3', ['-m', 'venv', home], { log, label: 'venv' });
  await run(path.join(home, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements], { log, label: 'pip' });
  writeFileSync(finished, '');
  return python;
}

/** The receivers other services publish (Flask, FastAPI), for the receiver-compatibility tests. */
export function findOrBuildReceiverPython(log: (line: string) => void = console.error): Promise<string> {
  return findOrBuildVenv('receivers', 'test/receivers/requirements.txt', log);
}

/** openapi-python-client and schemathesis, for the contract tools test. */
export function findOrBuildContractToolsPython(log: (line: string) => void = console.error): Promise<string> {
  return findOrBuildVenv('contract-tools', 'test/clients/requirements.txt', log);
}

/** thumbor, the image server `npm run bench:peers` runs beside Kiln. */
export function findOrBuildThumborPython(log: (line: string) => void = console.error): Promise<string> {
  return findOrBuildVenv('thumbor', 'bench/peers/requirements.txt', log);
}
