import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { onPath } from '../src/temporal/temporal-binaries.js';
import { cacheDir, run } from './temporal-toolchain.js';

/**
 * Tooling for the S3 tests (and operators trying Kiln on S3 without AWS): versitygw, an
 * S3-compatible gateway over a directory, built once from the Go module proxy and cached
 * under Kiln's cache directory like the Temporal CLI.
 */

export const VERSITYGW_VERSION = 'v1.8.0';

/** Path of a versitygw binary, building it when needed; undefined without Go. */
export async function findOrBuildVersitygw(log: (line: string) => void = console.error): Promise<string | undefined> {
  const binDir = path.join(cacheDir(), `versitygw-${VERSITYGW_VERSION}`);
  const binary = path.join(binDir, 'versitygw');
  if (existsSync(binary)) return binary;
  const go = onPath('go', loadConfig().searchPath);
  if (!go) return undefined;
  log(`Building versitygw ${VERSITYGW_VERSION} (an S3-compatible server) from the Go module proxy into ${binDir} (once)...`);
  const staging = `${binDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  await run(go, ['install', `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`], {
    env: { GOBIN: staging, GOFLAGS: '-buildvcs=false' },
    log,
    label: 'go',
  });
  // Renamed last: an interrupted build never leaves a binary that looks cached.
  rmSync(binDir, { recursive: true, force: true });
  renameSync(staging, binDir);
  return binary;
}
