import path from 'node:path';
import os from 'node:os';
import { AddressGuard } from './webhooks/address-guard.js';
import { parseDuration, parseSchedule } from './webhooks/schedule.js';
import { LOG_LEVELS, type LogLevelName } from './log.js';
import { TEMPORAL_LOG_LEVELS } from './temporal/connection.js';

/**
 * Every setting Kiln reads from the environment, in one place. The README's
 * configuration table documents each of these; keep the two in step.
 */
export interface KilnConfig {
  dataDir: string;
  /** Where the local blob store keeps originals and outputs. */
  blobDir: string;
  port: number;
  host: string;
  /** Base URL clients reach the API at, for download links; the listening address when unset. */
  publicUrl: string | undefined;
  databaseUrl: string | undefined;
  temporalAddress: string | undefined;
  temporalNamespace: string;
  temporalPort: number;
  temporalUiPort: number;
  /** `PRAGMA=VALUE` settings for the dev server's SQLite file. */
  temporalSqlitePragmas: string[];
  adminToken: string | undefined;
  /** HMAC key for signed download URLs. */
  signingKey: string | undefined;
  downloadTtlSeconds: number;
  maxUploadBytes: number;
  maxInputPixels: number;
  maxOutputDimension: number;
  /** Largest output width × height, checked at submit when both are given and before encoding otherwise. */
  maxOutputPixels: number;
  /** Activities at once on kiln-convert; sharp work is CPU-bound. */
  convertConcurrency: number;
  /** Seconds without a heartbeat before a conversion attempt counts as lost. */
  convertHeartbeatTimeoutSeconds: number;
  /** Seconds one conversion's image work may take before its process is killed. */
  convertTimeLimitSeconds: number;
  /** Resident memory (MiB) one converter process may reach before it is killed. */
  convertMemoryLimitMb: number;
  avifEffort: number;
  /** Default waits between webhook attempts, in seconds (KILN_WEBHOOK_RETRY_SCHEDULE). */
  webhookRetrySchedule: number[];
  /** How long one webhook attempt may take before it counts as failed. */
  webhookTimeoutSeconds: number;
  /** An endpoint whose deliveries have all failed for this long is disabled. */
  endpointDisableAfterSeconds: number;
  /** How long a rotated-out signing secret keeps signing alongside the new one. */
  webhookSecretOverlapSeconds: number;
  /** How long an Idempotency-Key is remembered (KILN_IDEMPOTENCY_TTL). */
  idempotencyTtlSeconds: number;
  /** Address ranges webhooks may reach although they are not public; undefined = the role's default. */
  webhookAllowedCidrs: string[] | undefined;
  /** HTTP deliveries in flight at once per worker (kiln-deliver). */
  deliverConcurrency: number;
  /** Where built Temporal binaries are cached (KILN_CACHE_DIR; XDG_CACHE_HOME/kiln or ~/.cache/kiln). */
  cacheDir: string;
  /** A `temporal` binary for `kiln dev` (TEMPORAL_CLI_PATH); else PATH, else the cache. */
  temporalCliPath: string | undefined;
  /** The time-skipping test server launcher the tests use (TEMPORAL_TEST_SERVER_PATH). */
  temporalTestServerPath: string | undefined;
  /** Directories searched for executables (PATH). */
  searchPath: string[];
  /** Kiln's own log (KILN_LOG_LEVEL). */
  logLevel: LogLevelName;
  /** The Temporal SDK's native runtime, logged through Kiln's log (KILN_TEMPORAL_LOG_LEVEL). */
  temporalLogLevel: (typeof TEMPORAL_LOG_LEVELS)[number];
}

export class ConfigError extends Error {}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function durationFrom(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const raw = stringFrom(env, name) ?? fallback;
  const seconds = parseDuration(raw);
  if (seconds === undefined || seconds < 1) throw new ConfigError(`${name} must be a duration like 30s, 2m, 1h or 5d, got "${raw}"`);
  return seconds;
}

function scheduleFrom(env: NodeJS.ProcessEnv, name: string, fallback: string): number[] {
  const raw = env[name] ?? fallback;
  const parsed = parseSchedule(
    raw
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean),
  );
  if (!parsed.ok) throw new ConfigError(`${name}: ${parsed.message}`);
  return parsed.seconds;
}

function cidrsFrom(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const cidrs = raw
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  try {
    new AddressGuard(cidrs);
  } catch (error) {
    throw new ConfigError(`${name}: ${(error as Error).message}`);
  }
  return cidrs;
}

function choiceFrom<const T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[], fallback: T): T {
  const raw = stringFrom(env, name);
  if (raw === undefined) return fallback;
  const choice = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
  if (!choice) throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  return choice;
}

function stringFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): KilnConfig {
  const port = intFrom(env, 'PORT', 3000, 0, 65535);
  const host = stringFrom(env, 'HOST') ?? '127.0.0.1';
  const dataDir = path.resolve(stringFrom(env, 'KILN_DATA_DIR') ?? './data');
  return {
    dataDir,
    blobDir: path.resolve(stringFrom(env, 'KILN_BLOB_DIR') ?? path.join(dataDir, 'blobs')),
    port,
    host,
    publicUrl: stringFrom(env, 'KILN_PUBLIC_URL')?.replace(/\/+$/, ''),
    databaseUrl: stringFrom(env, 'DATABASE_URL'),
    temporalAddress: stringFrom(env, 'TEMPORAL_ADDRESS'),
    temporalNamespace: stringFrom(env, 'TEMPORAL_NAMESPACE') ?? 'default',
    temporalPort: intFrom(env, 'TEMPORAL_PORT', 7233, 1, 65535),
    temporalUiPort: intFrom(env, 'TEMPORAL_UI_PORT', 8233, 1, 65535),
    temporalSqlitePragmas: (env.KILN_TEMPORAL_SQLITE_PRAGMAS ?? 'journal_mode=WAL,synchronous=NORMAL')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    adminToken: stringFrom(env, 'KILN_ADMIN_TOKEN'),
    signingKey: stringFrom(env, 'KILN_SIGNING_KEY'),
    downloadTtlSeconds: intFrom(env, 'KILN_DOWNLOAD_TTL_SECONDS', 3600, 60, 7 * 24 * 3600),
    maxUploadBytes: intFrom(env, 'KILN_MAX_UPLOAD_BYTES', 50 * 1024 * 1024, 1024, 2 ** 40),
    maxInputPixels: intFrom(env, 'KILN_MAX_INPUT_PIXELS', 100_000_000, 1, 2 ** 40),
    maxOutputDimension: intFrom(env, 'KILN_MAX_OUTPUT_DIMENSION', 16384, 1, 65535),
    maxOutputPixels: intFrom(env, 'KILN_MAX_OUTPUT_PIXELS', 50_000_000, 1, 2 ** 40),
    convertConcurrency: intFrom(env, 'KILN_CONVERT_CONCURRENCY', os.availableParallelism(), 1, 1024),
    convertHeartbeatTimeoutSeconds: intFrom(env, 'KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS', 20, 2, 3600),
    convertTimeLimitSeconds: intFrom(env, 'KILN_CONVERT_TIME_LIMIT_SECONDS', 120, 1, 3600),
    convertMemoryLimitMb: intFrom(env, 'KILN_CONVERT_MEMORY_LIMIT_MB', 1536, 64, 1 << 20),
    avifEffort: intFrom(env, 'KILN_AVIF_EFFORT', 2, 0, 9),
    webhookRetrySchedule: scheduleFrom(env, 'KILN_WEBHOOK_RETRY_SCHEDULE', '30s,2m,10m'),
    webhookTimeoutSeconds: intFrom(env, 'KILN_WEBHOOK_TIMEOUT_SECONDS', 10, 1, 120),
    endpointDisableAfterSeconds: durationFrom(env, 'KILN_ENDPOINT_DISABLE_AFTER', '5d'),
    webhookSecretOverlapSeconds: durationFrom(env, 'KILN_WEBHOOK_SECRET_OVERLAP', '24h'),
    webhookAllowedCidrs: cidrsFrom(env, 'KILN_WEBHOOK_ALLOWED_CIDRS'),
    idempotencyTtlSeconds: durationFrom(env, 'KILN_IDEMPOTENCY_TTL', '24h'),
    deliverConcurrency: intFrom(env, 'KILN_DELIVER_CONCURRENCY', 100, 1, 10_000),
    cacheDir: path.resolve(stringFrom(env, 'KILN_CACHE_DIR') ?? path.join(stringFrom(env, 'XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache'), 'kiln')),
    temporalCliPath: stringFrom(env, 'TEMPORAL_CLI_PATH'),
    temporalTestServerPath: stringFrom(env, 'TEMPORAL_TEST_SERVER_PATH'),
    searchPath: (env.PATH ?? '').split(path.delimiter).filter(Boolean),
    logLevel: choiceFrom(env, 'KILN_LOG_LEVEL', LOG_LEVELS, 'info'),
    temporalLogLevel: choiceFrom(env, 'KILN_TEMPORAL_LOG_LEVEL', TEMPORAL_LOG_LEVELS, 'WARN'),
  };
}
