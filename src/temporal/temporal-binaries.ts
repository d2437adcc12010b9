import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import type { KilnConfig } from '../config.js';

/** The Temporal CLI (dev server and Web UI) Kiln is built and tested against; tools/temporal-toolchain.ts builds it. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Where tools/temporal-toolchain.ts leaves the CLI it builds. */
export function cachedTemporalCliPath(cacheDir: string): string {
  return path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

export function onPath(command: string, searchPath: readonly string[]): string | undefined {
  for (const dir of searchPath) {
    const candidate = path.join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The `temporal` binary `kiln dev` runs: TEMPORAL_CLI_PATH, one on PATH, or the cached build; undefined when there is none. */
export function locateTemporalCli(config: Pick<KilnConfig, 'temporalCliPath' | 'searchPath' | 'cacheDir'>): string | undefined {
  if (config.temporalCliPath) {
    if (!existsSync(config.temporalCliPath)) throw new Error(`TEMPORAL_CLI_PATH points at ${config.temporalCliPath}, which does not exist`);
    return config.temporalCliPath;
  }
  const cached = cachedTemporalCliPath(config.cacheDir);
  return onPath('temporal', config.searchPath) ?? (existsSync(cached) ? cached : undefined);
}

/**
 * Runs `start` with `executable`; when that was the SDK's download and it fails, says
 * plainly what is missing instead of surfacing a bare network error.
 */
export async function withExplainedDownload<T>(what: string, executable: EphemeralServerExecutable, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (executable.type !== 'cached-download') throw error;
    const remedy =
      what === 'Temporal CLI'
        ? 'install Go (1.23 or newer) and run `node --import tsx tools/temporal-toolchain.ts cli`, or set TEMPORAL_CLI_PATH to a temporal binary'
        : 'install Java 17+ and Maven so Kiln can fetch it from Maven Central, or set TEMPORAL_TEST_SERVER_PATH';
    throw new Error(
      `could not obtain the ${what}: it is not installed, cannot be built here, and the SDK's download failed (${(error as Error).message}). To fix: ${remedy}.`,
      { cause: error },
    );
  }
}
