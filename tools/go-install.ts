import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { onPath } from '../src/temporal/temporal-binaries.js';
import { cacheDir, run } from './build-support.js';

type Log = (line: string) => void;

export interface GoBuild {
  /** Directory under Kiln's cache that holds the result, e.g. `temporal-server-v1.29.1`. */
  name: string;
  /** What the log calls it. */
  what: string;
  /** `module/path/cmd/x@version` arguments of `go install`. */
  packages: string[];
  /** Runs with the staging directory before it is renamed into place (to copy files beside the binaries). */
  finish?: (staging: string) => void | Promise<void>;
}

/**
 * The cache directory of a Go build, built once from the Go module proxy with `go install`;
 * undefined when the machine has no Go. The directory is renamed into place last, so an
 * interrupted build never leaves something that looks cached.
 */
export async function goInstallOnce(build: GoBuild, log: Log = console.error): Promise<string | undefined> {
  const dir = path.join(cacheDir(), build.name);
  if (existsSync(dir)) return dir;
  const go = onPath('go', loadConfig().searchPath);
  if (!go) return undefined;
  log(`Building ${build.what} from the Go module proxy into ${dir} (once; minutes on 2 cores)...`);
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  await run(go, ['install', ...build.packages], { env: { GOBIN: staging, GOFLAGS: '-buildvcs=false' }, log, label: 'go' });
  await build.finish?.(staging);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  log(`${build.what} ready: ${dir}`);
  return dir;
}

/** Where the Go module cache holds `module@version`'s source (downloading it if needed), for files a build ships beside its binaries. */
export function goModuleDir(moduleAtVersion: string): string {
  const go = onPath('go', loadConfig().searchPath) ?? 'go';
  const out = execFileSync(go, ['mod', 'download', '-json', moduleAtVersion], { encoding: 'utf8' });
  return (JSON.parse(out) as { Dir: string }).Dir;
}
