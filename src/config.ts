import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';
import { AddressGuard } from './net/address-guard.js';
import { parseDuration, parseSchedule } from './durations.js';
import { LOG_LEVELS, TEMPORAL_LOG_LEVELS, type LogLevelName } from './log.js';

/**
 * Every setting Kiln runs with, parsed from the environment by `SETTINGS` below: the only
 * code in Kiln that reads the environment. The README's configuration table documents
 * each variable; keep the two in step.
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
  /** Lifetime of signed event-stream links (KILN_STREAM_LINK_TTL_SECONDS). */
  streamLinkTtlSeconds: number;
  /** Seconds between keep-alive comments on an idle event stream (KILN_STREAM_KEEPALIVE_SECONDS). */
  streamKeepAliveSeconds: number;
  maxUploadBytes: number;
  maxInputPixels: number;
  /** Frames an animation may have (KILN_MAX_FRAMES). */
  maxFrames: number;
  maxOutputDimension: number;
  /** Largest output width × height, checked at submit when both are given and before encoding otherwise. */
  maxOutputPixels: number;
  /** Activities at once on kiln-convert; sharp work is CPU-bound. */
  convertConcurrency: number;
  /** The largest source a conversion fetches (KILN_SOURCE_MAX_BYTES; default the upload limit). */
  sourceMaxBytes: number;
  /** How long one fetch of a source may take, redirects and body included (KILN_SOURCE_TIMEOUT_SECONDS). */
  sourceTimeoutSeconds: number;
  /** Redirects a source fetch follows (KILN_SOURCE_MAX_REDIRECTS). */
  sourceMaxRedirects: number;
  /** An S3-compatible bucket for blobs (KILN_S3_*); undefined: the local directory KILN_BLOB_DIR. */
  s3: { bucket: string; region: string; endpoint: string | undefined; forcePathStyle: boolean; prefix: string } | undefined;
  /** Assets one account may keep, and the size of each (KILN_MAX_ASSETS, KILN_MAX_ASSET_BYTES, KILN_MAX_ASSET_PIXELS). */
  maxAssets: number;
  maxAssetBytes: number;
  maxAssetPixels: number;
  /** Outputs (renditions) one conversion may ask for (KILN_MAX_OUTPUTS). */
  maxOutputs: number;
  /** Presets one account may keep (KILN_MAX_PRESETS). */
  maxPresets: number;
  /** Files one job may have (KILN_MAX_JOB_FILES). */
  maxJobFiles: number;
  /** Bytes all the files uploaded with one job may have together (KILN_MAX_JOB_BYTES). */
  maxJobBytes: number;
  /** Files of one job converting at once: the default and the most a job may ask for (KILN_JOB_CONCURRENCY). */
  jobConcurrency: number;
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
  /** Bounds of one payload template render (KILN_TEMPLATE_TIMEOUT_MS, KILN_TEMPLATE_MAX_BYTES, KILN_TEMPLATE_MEMORY_MB). */
  templateLimits: { timeoutMs: number; maxOutputBytes: number; memoryMb: number };
  /** Where built Temporal binaries are cached (KILN_CACHE_DIR; XDG_CACHE_HOME/kiln or ~/.cache/kiln). */
  cacheDir: string;
  /** A `temporal` binary for `kiln dev` (TEMPORAL_CLI_PATH); else PATH, else the cache. */
  temporalCliPath: string | undefined;
  /** The time-skipping test server launcher the tests use (TEMPORAL_TEST_SERVER_PATH). */
  temporalTestServerPath: string | undefined;
  /** Directories searched for executables (PATH). */
  searchPath: string[];
  /** `kiln worker`: the port of its /metrics, /livez and /readyz on HOST (KILN_METRICS_PORT); 0: none. */
  metricsPort: number;
  /** `kiln worker`: its name in the Temporal worker identity the Web UI shows (KILN_WORKER_NAME; default the host name). */
  workerName: string;
  /** How long a stopping worker lets running activities finish before cancelling them (KILN_SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceSeconds: number;
  /** Seconds each kind of stored data is kept before the retention schedule purges it. */
  retention: RetentionPeriods;
  /** Kiln's own log (KILN_LOG_LEVEL). */
  logLevel: LogLevelName;
  /** The Temporal SDK's native runtime, logged through Kiln's log (KILN_TEMPORAL_LOG_LEVEL). */
  temporalLogLevel: (typeof TEMPORAL_LOG_LEVELS)[number];
}

export interface RetentionPeriods {
  /** Uploaded originals and fetched sources (KILN_RETENTION_ORIGINALS). */
  originals: number;
  /** Conversion outputs and renditions (KILN_RETENTION_OUTPUTS). */
  outputs: number;
  /** Job archives (KILN_RETENTION_ARCHIVES). */
  archives: number;
  /** Event payloads; the event row and its delivery log stay (KILN_RETENTION_EVENTS). */
  eventPayloads: number;
  /** The response body previews of delivery attempts (KILN_RETENTION_ATTEMPTS). */
  attemptPreviews: number;
}

export class ConfigError extends Error {}

/** An environment variable as text; empty counts as unset. */
const text = () =>
  z
    .string()
    .optional()
    .transform((raw) => (raw === '' ? undefined : raw));

const whole = (fallback: number, min: number, max: number) =>
  text().transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}, got "${raw}"` });
    return z.NEVER;
  });

/** Seconds, from a duration like 30s, 2m, 1h or 5d. */
const duration = (fallback: string) =>
  text().transform((raw, ctx) => {
    const seconds = parseDuration(raw ?? fallback);
    if (seconds !== undefined && seconds >= 1) return seconds;
    ctx.addIssue({ code: 'custom', message: `must be a duration like 30s, 2m, 1h or 5d, got "${raw}"` });
    return z.NEVER;
  });

/** Comma-separated waits (an empty value is an empty schedule, not the default). */
const schedule = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const parsed = parseSchedule(list(raw ?? fallback));
      if (parsed.ok) return parsed.seconds;
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    });

/** Comma-separated CIDR ranges; unset leaves the role's default, empty allows none. */
const cidrs = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const ranges = list(raw);
      try {
        new AddressGuard(ranges);
        return ranges;
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const choice = <const T extends string>(choices: readonly T[], fallback: T) =>
  text().transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
    if (found) return found;
    ctx.addIssue({ code: 'custom', message: `must be one of ${choices.join(', ')}, got "${raw}"` });
    return z.NEVER;
  });

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** The environment Kiln reads, variable by variable, and the settings it makes of it. */
const SETTINGS = z
  .object({
    PORT: whole(3000, 0, 65535),
    HOST: text(),
    KILN_DATA_DIR: text(),
    KILN_BLOB_DIR: text(),
    KILN_PUBLIC_URL: text(),
    DATABASE_URL: text(),
    TEMPORAL_ADDRESS: text(),
    TEMPORAL_NAMESPACE: text(),
    TEMPORAL_PORT: whole(7233, 1, 65535),
    TEMPORAL_UI_PORT: whole(8233, 1, 65535),
    KILN_TEMPORAL_SQLITE_PRAGMAS: text(),
    KILN_ADMIN_TOKEN: text(),
    KILN_SIGNING_KEY: text(),
    KILN_DOWNLOAD_TTL_SECONDS: whole(3600, 60, 7 * 24 * 3600),
    KILN_STREAM_LINK_TTL_SECONDS: whole(900, 10, 24 * 3600),
    KILN_STREAM_KEEPALIVE_SECONDS: whole(15, 1, 300),
    KILN_MAX_UPLOAD_BYTES: whole(50 * 1024 * 1024, 1024, 2 ** 40),
    KILN_MAX_INPUT_PIXELS: whole(100_000_000, 1, 2 ** 40),
    KILN_MAX_FRAMES: whole(1000, 1, 100_000),
    KILN_MAX_OUTPUT_DIMENSION: whole(16384, 1, 65535),
    KILN_MAX_OUTPUT_PIXELS: whole(50_000_000, 1, 2 ** 40),
    KILN_CONVERT_CONCURRENCY: whole(os.availableParallelism(), 1, 1024),
    KILN_MAX_JOB_FILES: whole(5000, 1, 100_000),
    KILN_MAX_PRESETS: whole(100, 1, 10_000),
    KILN_MAX_OUTPUTS: whole(10, 1, 100),
    KILN_MAX_ASSETS: whole(100, 1, 10_000),
    KILN_S3_BUCKET: text(),
    KILN_S3_REGION: text(),
    KILN_S3_ENDPOINT: text(),
    KILN_S3_FORCE_PATH_STYLE: choice(['auto', 'true', 'false'], 'auto'),
    KILN_S3_PREFIX: text(),
    KILN_MAX_ASSET_BYTES: whole(10 * 1024 * 1024, 1024, 2 ** 30),
    KILN_MAX_ASSET_PIXELS: whole(25_000_000, 1, 2 ** 40),
    KILN_SOURCE_MAX_BYTES: whole(0, 1, 2 ** 40), // 0: unset
    KILN_SOURCE_TIMEOUT_SECONDS: whole(30, 1, 3600),
    KILN_SOURCE_MAX_REDIRECTS: whole(5, 0, 20),
    KILN_MAX_JOB_BYTES: whole(2 * 1024 ** 3, 1024, 2 ** 40),
    KILN_JOB_CONCURRENCY: whole(0, 1, 1024), // 0: unset
    KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: whole(20, 2, 3600),
    KILN_CONVERT_TIME_LIMIT_SECONDS: whole(120, 1, 3600),
    KILN_CONVERT_MEMORY_LIMIT_MB: whole(1536, 64, 1 << 20),
    KILN_AVIF_EFFORT: whole(2, 0, 9),
    KILN_WEBHOOK_RETRY_SCHEDULE: schedule('30s,2m,10m'),
    KILN_WEBHOOK_TIMEOUT_SECONDS: whole(10, 1, 120),
    KILN_ENDPOINT_DISABLE_AFTER: duration('5d'),
    KILN_WEBHOOK_SECRET_OVERLAP: duration('24h'),
    KILN_WEBHOOK_ALLOWED_CIDRS: cidrs(),
    KILN_IDEMPOTENCY_TTL: duration('24h'),
    KILN_DELIVER_CONCURRENCY: whole(100, 1, 10_000),
    KILN_TEMPLATE_TIMEOUT_MS: whole(250, 10, 10_000),
    KILN_TEMPLATE_MAX_BYTES: whole(256 * 1024, 1024, 16 * 1024 * 1024),
    KILN_TEMPLATE_MEMORY_MB: whole(64, 16, 1024),
    KILN_METRICS_PORT: whole(0, 0, 65535),
    KILN_WORKER_NAME: text(),
    KILN_SHUTDOWN_GRACE_SECONDS: whole(60, 0, 3600),
    KILN_RETENTION_ORIGINALS: duration('7d'),
    KILN_RETENTION_OUTPUTS: duration('30d'),
    KILN_RETENTION_ARCHIVES: duration('7d'),
    KILN_RETENTION_EVENTS: duration('30d'),
    KILN_RETENTION_ATTEMPTS: duration('30d'),
    KILN_CACHE_DIR: text(),
    XDG_CACHE_HOME: text(),
    TEMPORAL_CLI_PATH: text(),
    TEMPORAL_TEST_SERVER_PATH: text(),
    PATH: text(),
    KILN_LOG_LEVEL: choice(LOG_LEVELS, 'info'),
    KILN_TEMPORAL_LOG_LEVEL: choice(TEMPORAL_LOG_LEVELS, 'WARN'),
  })
  .transform((env): KilnConfig => {
    const dataDir = path.resolve(env.KILN_DATA_DIR ?? './data');
    return {
      dataDir,
      blobDir: path.resolve(env.KILN_BLOB_DIR ?? path.join(dataDir, 'blobs')),
      port: env.PORT,
      host: env.HOST ?? '127.0.0.1',
      publicUrl: env.KILN_PUBLIC_URL?.replace(/\/+$/, ''),
      databaseUrl: env.DATABASE_URL,
      temporalAddress: env.TEMPORAL_ADDRESS,
      temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
      temporalPort: env.TEMPORAL_PORT,
      temporalUiPort: env.TEMPORAL_UI_PORT,
      temporalSqlitePragmas: list(env.KILN_TEMPORAL_SQLITE_PRAGMAS ?? 'journal_mode=WAL,synchronous=NORMAL'),
      adminToken: env.KILN_ADMIN_TOKEN,
      signingKey: env.KILN_SIGNING_KEY,
      downloadTtlSeconds: env.KILN_DOWNLOAD_TTL_SECONDS,
      streamLinkTtlSeconds: env.KILN_STREAM_LINK_TTL_SECONDS,
      streamKeepAliveSeconds: env.KILN_STREAM_KEEPALIVE_SECONDS,
      maxUploadBytes: env.KILN_MAX_UPLOAD_BYTES,
      maxInputPixels: env.KILN_MAX_INPUT_PIXELS,
      maxFrames: env.KILN_MAX_FRAMES,
      maxOutputDimension: env.KILN_MAX_OUTPUT_DIMENSION,
      maxOutputPixels: env.KILN_MAX_OUTPUT_PIXELS,
      convertConcurrency: env.KILN_CONVERT_CONCURRENCY,
      maxJobFiles: env.KILN_MAX_JOB_FILES,
      maxPresets: env.KILN_MAX_PRESETS,
      maxOutputs: env.KILN_MAX_OUTPUTS,
      maxAssets: env.KILN_MAX_ASSETS,
      s3: env.KILN_S3_BUCKET
        ? {
            bucket: env.KILN_S3_BUCKET,
            region: env.KILN_S3_REGION ?? 'us-east-1',
            endpoint: env.KILN_S3_ENDPOINT,
            // Servers other than AWS address buckets by path; AWS by host.
            forcePathStyle: env.KILN_S3_FORCE_PATH_STYLE === 'auto' ? env.KILN_S3_ENDPOINT !== undefined : env.KILN_S3_FORCE_PATH_STYLE === 'true',
            prefix: env.KILN_S3_PREFIX ?? '',
          }
        : undefined,
      maxAssetBytes: env.KILN_MAX_ASSET_BYTES,
      maxAssetPixels: env.KILN_MAX_ASSET_PIXELS,
      sourceMaxBytes: env.KILN_SOURCE_MAX_BYTES || env.KILN_MAX_UPLOAD_BYTES,
      sourceTimeoutSeconds: env.KILN_SOURCE_TIMEOUT_SECONDS,
      sourceMaxRedirects: env.KILN_SOURCE_MAX_REDIRECTS,
      maxJobBytes: env.KILN_MAX_JOB_BYTES,
      // A worker takes two convert tasks per converter: a window of twice the converters keeps one worker's slots full.
      jobConcurrency: env.KILN_JOB_CONCURRENCY || 2 * env.KILN_CONVERT_CONCURRENCY,
      convertHeartbeatTimeoutSeconds: env.KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS,
      convertTimeLimitSeconds: env.KILN_CONVERT_TIME_LIMIT_SECONDS,
      convertMemoryLimitMb: env.KILN_CONVERT_MEMORY_LIMIT_MB,
      avifEffort: env.KILN_AVIF_EFFORT,
      webhookRetrySchedule: env.KILN_WEBHOOK_RETRY_SCHEDULE,
      webhookTimeoutSeconds: env.KILN_WEBHOOK_TIMEOUT_SECONDS,
      endpointDisableAfterSeconds: env.KILN_ENDPOINT_DISABLE_AFTER,
      webhookSecretOverlapSeconds: env.KILN_WEBHOOK_SECRET_OVERLAP,
      webhookAllowedCidrs: env.KILN_WEBHOOK_ALLOWED_CIDRS,
      idempotencyTtlSeconds: env.KILN_IDEMPOTENCY_TTL,
      deliverConcurrency: env.KILN_DELIVER_CONCURRENCY,
      templateLimits: { timeoutMs: env.KILN_TEMPLATE_TIMEOUT_MS, maxOutputBytes: env.KILN_TEMPLATE_MAX_BYTES, memoryMb: env.KILN_TEMPLATE_MEMORY_MB },
      cacheDir: path.resolve(env.KILN_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kiln')),
      temporalCliPath: env.TEMPORAL_CLI_PATH,
      temporalTestServerPath: env.TEMPORAL_TEST_SERVER_PATH,
      searchPath: (env.PATH ?? '').split(path.delimiter).filter(Boolean),
      metricsPort: env.KILN_METRICS_PORT,
      workerName: env.KILN_WORKER_NAME ?? os.hostname(),
      shutdownGraceSeconds: env.KILN_SHUTDOWN_GRACE_SECONDS,
      retention: {
        originals: env.KILN_RETENTION_ORIGINALS,
        outputs: env.KILN_RETENTION_OUTPUTS,
        archives: env.KILN_RETENTION_ARCHIVES,
        eventPayloads: env.KILN_RETENTION_EVENTS,
        attemptPreviews: env.KILN_RETENTION_ATTEMPTS,
      },
      logLevel: env.KILN_LOG_LEVEL,
      temporalLogLevel: env.KILN_TEMPORAL_LOG_LEVEL,
    };
  });

/** Every environment variable Kiln reads itself (the AWS SDK reads its own AWS_* besides). */
export const SETTING_NAMES: readonly string[] = Object.keys(SETTINGS.in.shape);

/** Parses the settings; every problem is named by its variable, all of them at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): KilnConfig {
  const parsed = SETTINGS.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
}
