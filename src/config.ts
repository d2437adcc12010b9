import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';
import { AddressGuard } from './net/address-guard.js';
import { parseDuration, parseSchedule } from './durations.js';
import { LOG_LEVELS, TEMPORAL_LOG_LEVELS } from './log.js';

/**
 * Every setting Kiln runs with, declared once in `SETTINGS` below: the variable, the
 * KilnConfig property it sets, how its text parses, its default and what it means. The type,
 * the parser and docs/configuration.md (`npm run docs:config`) all come from that table; this
 * is the only code in Kiln that reads the environment.
 */

export class ConfigError extends Error {}

type TextSchema<T = unknown> = z.ZodType<T, string>;

interface Setting<S extends TextSchema = TextSchema> {
  /** The KilnConfig property the variable sets. */
  key: string;
  /** Parses the variable's text; its description says what it accepts (shown in the reference). */
  schema: S;
  /** The text parsed when the variable is unset (or empty); without one the value is undefined. */
  default?: string;
  /** The default as the reference shows it, where it is not `default` itself (derived, or per role). */
  shown?: string;
  /** Empty text is a value of its own (an empty list), not "unset". */
  emptyIsValue?: true;
  /** What the setting means, one line of Markdown for the reference. */
  doc: string;
}

type ValueOf<S extends Setting> = S extends { default: string } ? z.output<S['schema']> : z.output<S['schema']> | undefined;
type SettingsOf<T extends Record<string, Setting>> = { [N in keyof T as T[N]['key']]: ValueOf<T[N]> };

function defineSettings<const T extends Record<string, Setting>>(table: T): T {
  return table;
}

const text = (): TextSchema<string> => z.string().describe('text');

const whole = (min: number, max: number): TextSchema<number> =>
  z
    .string()
    .transform((raw, ctx) => {
      const value = Number(raw);
      if (raw.trim() !== '' && Number.isInteger(value) && value >= min && value <= max) return value;
      ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}, got "${raw}"` });
      return z.NEVER;
    })
    .describe(`whole number, ${min}–${max}`);

const BYTE_UNITS = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;

/** A size in bytes, plain or with a binary unit: `52428800`, `50MiB`, `2GiB`. */
const bytes = (min: number, max: number): TextSchema<number> =>
  z
    .string()
    .transform((raw, ctx) => {
      const match = /^(\d+)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(raw.trim());
      const value = match ? Number(match[1]) * BYTE_UNITS[(match[2] ?? '') as keyof typeof BYTE_UNITS] : NaN;
      if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
      ctx.addIssue({ code: 'custom', message: `must be a size from ${formatBytes(min)} to ${formatBytes(max)} like 52428800 or 50MiB, got "${raw}"` });
      return z.NEVER;
    })
    .describe(`bytes (\`KiB\`, \`MiB\`, \`GiB\`, \`TiB\` allowed), ${formatBytes(min)}–${formatBytes(max)}`);

function formatBytes(value: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    if (value >= BYTE_UNITS[unit] && value % BYTE_UNITS[unit] === 0) return `${value / BYTE_UNITS[unit]}${unit}`;
  }
  return `${value}`;
}

/** Seconds, from a duration like 30s, 2m, 1h or 5d. */
const duration = (): TextSchema<number> =>
  z
    .string()
    .transform((raw, ctx) => {
      const seconds = parseDuration(raw);
      if (seconds !== undefined && seconds >= 1) return seconds;
      ctx.addIssue({ code: 'custom', message: `must be a duration like 30s, 2m, 1h or 5d, got "${raw}"` });
      return z.NEVER;
    })
    .describe('duration (`30s`, `2m`, `1h`, `5d`)');

/** Comma-separated waits between webhook attempts. */
const schedule = (): TextSchema<number[]> =>
  z
    .string()
    .transform((raw, ctx) => {
      const parsed = parseSchedule(list(raw));
      if (parsed.ok) return parsed.seconds;
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    })
    .describe('comma-separated durations');

/** A rate, `N/duration` (`600/1m`: 600 requests a minute, taken in bursts of up to 600), or `off`. */
export interface Rate {
  requests: number;
  windowSeconds: number;
}

const rate = (): TextSchema<Rate | null> =>
  z
    .string()
    .transform((raw, ctx) => {
      if (raw.trim().toLowerCase() === 'off') return null;
      const match = /^(\d+)\s*\/\s*(\S+)$/.exec(raw.trim());
      const requests = match ? Number(match[1]) : NaN;
      const windowSeconds = match ? parseDuration(match[2]!) : undefined;
      if (Number.isSafeInteger(requests) && requests >= 1 && requests <= 1_000_000 && windowSeconds !== undefined && windowSeconds <= 86_400) {
        return { requests, windowSeconds };
      }
      ctx.addIssue({ code: 'custom', message: `must be requests per duration like 600/1m (at most 1000000 per up to 1d), or off, got "${raw}"` });
      return z.NEVER;
    })
    .describe('`N/duration` (`600/1m`), or `off`');

/** A limit, or `off` for none. */
const limit = (inner: TextSchema<number>): TextSchema<number | null> =>
  z
    .string()
    .transform((raw, ctx) => {
      if (raw.trim().toLowerCase() === 'off') return null;
      const parsed = inner.safeParse(raw);
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    })
    .describe(`${inner.description ?? ''}, or \`off\``);

/** Comma-separated CIDR ranges. */
const cidrs = (): TextSchema<string[]> =>
  z
    .string()
    .transform((raw, ctx) => {
      const ranges = list(raw);
      try {
        new AddressGuard(ranges);
        return ranges;
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe('comma-separated CIDR ranges');

const choice = <const T extends string>(choices: readonly T[]): TextSchema<T> =>
  z
    .string()
    .transform((raw, ctx) => {
      const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
      if (found) return found;
      ctx.addIssue({ code: 'custom', message: `must be one of ${choices.join(', ')}, got "${raw}"` });
      return z.NEVER;
    })
    .describe(`one of ${choices.map((c) => `\`${c}\``).join(', ')}`);

/** A directory, resolved against the working directory. */
const directory = (): TextSchema<string> =>
  z
    .string()
    .transform((raw) => path.resolve(raw))
    .describe('path');

/** An http(s) URL without its trailing slashes. */
const baseUrl = (): TextSchema<string> =>
  z
    .string()
    .transform((raw, ctx) => {
      const ok = URL.canParse(raw) && ['http:', 'https:'].includes(new URL(raw).protocol);
      if (ok) return raw.replace(/\/+$/, '');
      ctx.addIssue({ code: 'custom', message: `must be an http or https URL, got "${raw}"` });
      return z.NEVER;
    })
    .describe('http(s) URL');

const separated = (separator: string, what: string): TextSchema<string[]> =>
  z
    .string()
    .transform((raw) => list(raw, separator))
    .describe(what);

function list(raw: string, separator = ','): string[] {
  return raw
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);
}

/** The environment Kiln reads, variable by variable, in the order the reference lists them. */
export const SETTINGS = defineSettings({
  KILN_DATA_DIR: {
    key: 'dataDir',
    schema: directory(),
    default: './data',
    doc: 'embedded Postgres, Temporal’s SQLite file, blobs, upload spool, dev secrets',
  },
  PORT: { key: 'port', schema: whole(0, 65535), default: '3000', doc: 'API port' },
  HOST: { key: 'host', schema: text(), default: '127.0.0.1', doc: 'API bind address (`0.0.0.0` in containers)' },
  KILN_PUBLIC_URL: {
    key: 'publicUrl',
    schema: baseUrl(),
    shown: 'the API’s own address (`kiln worker`: `http://HOST:PORT`)',
    doc: 'base URL put in download links, including those in webhooks',
  },
  DATABASE_URL: { key: 'databaseUrl', schema: text(), shown: 'embedded PGlite', doc: 'a real Postgres, e.g. `postgres://user:pw@host/db`' },
  TEMPORAL_ADDRESS: {
    key: 'temporalAddress',
    schema: text(),
    shown: '`kiln dev` starts a dev server; others use `127.0.0.1:7233`',
    doc: 'an existing Temporal server (`host:port`); `kiln dev` then starts none',
  },
  TEMPORAL_NAMESPACE: { key: 'temporalNamespace', schema: text(), default: 'default', doc: 'the Temporal namespace Kiln’s workflows run in' },
  TEMPORAL_PORT: { key: 'temporalPort', schema: whole(1, 65535), default: '7233', doc: 'port of the dev server `kiln dev` starts' },
  TEMPORAL_UI_PORT: { key: 'temporalUiPort', schema: whole(1, 65535), default: '8233', doc: 'port of the dev server’s Web UI' },
  KILN_TEMPORAL_UI_URL: {
    key: 'temporalUiUrl',
    schema: baseUrl(),
    shown: '`kiln dev`: its dev server’s UI; others: unset (no links)',
    doc: 'the Temporal Web UI as the dashboard’s readers reach it; the dashboard links each conversion’s and job’s run there',
  },
  KILN_TEMPORAL_SQLITE_PRAGMAS: {
    key: 'temporalSqlitePragmas',
    schema: separated(',', 'comma-separated `PRAGMA=VALUE`'),
    default: 'journal_mode=WAL,synchronous=NORMAL',
    emptyIsValue: true,
    doc: 'pragmas for the dev server’s SQLite file (empty for SQLite’s defaults); WAL survives a killed process, and `npm run bench` showed no throughput change either way',
  },
  KILN_ADMIN_TOKEN: {
    key: 'adminToken',
    schema: text(),
    shown: '`kiln dev`: generated into `<data dir>/admin-token`; others: unset (admin routes off)',
    doc: 'bearer token for `/v1/admin`',
  },
  KILN_SIGNING_KEY: {
    key: 'signingKey',
    schema: text(),
    shown: '`kiln dev`: generated into `<data dir>/signing-key`; required by `kiln api` and `kiln worker`',
    doc: 'HMAC key of download links',
  },
  KILN_DOWNLOAD_TTL_SECONDS: { key: 'downloadTtlSeconds', schema: whole(60, 7 * 24 * 3600), default: '3600', doc: 'lifetime of download and archive links' },
  KILN_STREAM_LINK_TTL_SECONDS: {
    key: 'streamLinkTtlSeconds',
    schema: whole(10, 24 * 3600),
    default: '900',
    doc: 'lifetime of `stream_url` links to event streams; a stream already open is not cut',
  },
  KILN_STREAM_KEEPALIVE_SECONDS: {
    key: 'streamKeepAliveSeconds',
    schema: whole(1, 300),
    default: '15',
    doc: 'seconds between `: keep-alive` comments on an idle event stream',
  },
  KILN_MAX_JOB_FILES: { key: 'maxJobFiles', schema: whole(1, 100_000), default: '5000', doc: 'files one job may have (400 `too_many_files` past it)' },
  KILN_MAX_JOB_BYTES: {
    key: 'maxJobBytes',
    schema: bytes(1024, 2 ** 40),
    default: '2GiB',
    doc: 'bytes all the files uploaded with one job may have together (413 `upload_too_large`)',
  },
  KILN_JOB_CONCURRENCY: {
    key: 'jobConcurrency',
    schema: whole(1, 1024),
    shown: 'twice `KILN_CONVERT_CONCURRENCY`',
    doc: 'files of one job converting at once: the default and the most a job may ask for; a worker takes two convert tasks per converter, so this keeps one worker full; raise it with more workers',
  },
  KILN_MAX_UPLOAD_BYTES: { key: 'maxUploadBytes', schema: bytes(1024, 2 ** 40), default: '50MiB', doc: 'larger uploads answer 413 `file_too_large`' },
  KILN_MAX_INPUT_PIXELS: {
    key: 'maxInputPixels',
    schema: whole(1, 2 ** 40),
    default: '100000000',
    doc: 'larger images fail with `too_many_pixels`',
  },
  KILN_SOURCE_MAX_BYTES: {
    key: 'sourceMaxBytes',
    schema: bytes(1, 2 ** 40),
    shown: '`KILN_MAX_UPLOAD_BYTES`',
    doc: 'the largest original a `source_url` may deliver (`source_too_large` past it)',
  },
  KILN_SOURCE_TIMEOUT_SECONDS: {
    key: 'sourceTimeoutSeconds',
    schema: whole(1, 3600),
    default: '30',
    doc: 'one fetch of a `source_url`, redirects and body included',
  },
  KILN_SOURCE_MAX_REDIRECTS: { key: 'sourceMaxRedirects', schema: whole(0, 20), default: '5', doc: 'redirects a source fetch follows' },
  KILN_MAX_ASSETS: { key: 'maxAssets', schema: whole(1, 10_000), default: '100', doc: 'assets (watermarks) one account may keep' },
  KILN_MAX_ASSET_BYTES: { key: 'maxAssetBytes', schema: bytes(1024, 2 ** 30), default: '10MiB', doc: 'the largest asset upload (413 `file_too_large`)' },
  KILN_MAX_ASSET_PIXELS: {
    key: 'maxAssetPixels',
    schema: whole(1, 2 ** 40),
    default: '25000000',
    doc: 'the most pixels an asset may have (422 `asset_too_large`)',
  },
  KILN_MAX_OUTPUTS: { key: 'maxOutputs', schema: whole(1, 100), default: '10', doc: 'outputs (renditions) one conversion may ask for' },
  KILN_MAX_PRESETS: { key: 'maxPresets', schema: whole(1, 10_000), default: '100', doc: 'presets one account may keep (409 `preset_limit_reached` beyond)' },
  KILN_MAX_FRAMES: {
    key: 'maxFrames',
    schema: whole(1, 100_000),
    default: '1000',
    doc: 'animations with more frames fail with `too_many_frames` (every frame also counts into the pixel limits)',
  },
  KILN_MAX_OUTPUT_DIMENSION: { key: 'maxOutputDimension', schema: whole(1, 65535), default: '16384', doc: 'largest `width`/`height` accepted' },
  KILN_MAX_OUTPUT_PIXELS: {
    key: 'maxOutputPixels',
    schema: whole(1, 2 ** 40),
    default: '50000000',
    doc: 'largest output `width × height`; larger fail with `output_too_large` (or 400 when known at submit)',
  },
  KILN_RATE_LIMIT_WORK: {
    key: 'rateLimitWork',
    schema: rate(),
    default: '600/1m',
    doc: 'requests per account that create work (`POST /v1/conversions`, `POST /v1/jobs`): 429 `rate_limited` past it; an account’s own, set through the admin API, comes first',
  },
  KILN_RATE_LIMIT_WEBHOOKS: {
    key: 'rateLimitWebhooks',
    schema: rate(),
    default: '120/1m',
    doc: 'requests per account that send webhooks on demand (endpoint tests, delivery retries, recovery)',
  },
  KILN_QUOTA_CONVERSIONS_ACTIVE: {
    key: 'quotaConversionsActive',
    schema: limit(whole(1, 10_000_000)),
    default: '20000',
    doc: 'conversions (single or a job’s files) one account may have queued or converting at once: 429 `quota_exceeded` past it',
  },
  KILN_QUOTA_CONVERSIONS_PER_DAY: {
    key: 'quotaConversionsPerDay',
    schema: limit(whole(1, 1_000_000_000)),
    default: 'off',
    doc: 'conversions one account may start per UTC day',
  },
  KILN_QUOTA_STORED_BYTES: {
    key: 'quotaStoredBytes',
    schema: limit(bytes(1024, 2 ** 50)),
    default: 'off',
    doc: 'bytes one account may keep: originals, outputs and assets not yet past their retention',
  },
  KILN_QUOTA_ENDPOINTS: {
    key: 'quotaEndpoints',
    schema: limit(whole(1, 1_000_000)),
    default: '1000',
    doc: 'webhook endpoints one account may have',
  },
  KILN_OVERLOAD_DRAIN_SECONDS: {
    key: 'overloadDrainSeconds',
    schema: limit(duration()),
    default: '15m',
    doc: 'backpressure: when the queued conversions would take longer than this to drain at the rate they were finished over the last 5 minutes, new conversions answer 503 `overloaded` (see docs/operations.md)',
  },
  KILN_OVERLOAD_MIN_QUEUED: {
    key: 'overloadMinQueued',
    schema: whole(0, 10_000_000),
    default: '1000',
    doc: 'backpressure never refuses while fewer conversions than this are queued (a cold start has no drain rate yet)',
  },
  KILN_CONVERT_CONCURRENCY: {
    key: 'convertConcurrency',
    schema: whole(1, 1024),
    default: String(os.availableParallelism()),
    shown: 'number of cores',
    doc: 'converter processes per worker: conversions it runs at once (it takes twice as many `convertImage` tasks, so one waits ready beside each running one)',
  },
  KILN_CONVERT_TIME_LIMIT_SECONDS: {
    key: 'convertTimeLimitSeconds',
    schema: whole(1, 3600),
    default: '120',
    doc: 'how long one conversion’s image work may take before its process is killed; set by the API when the conversion is submitted',
  },
  KILN_CONVERT_MEMORY_LIMIT_MB: {
    key: 'convertMemoryLimitMb',
    schema: whole(64, 1 << 20),
    default: '1536',
    doc: 'resident memory (MiB) one converter process may reach before it is killed',
  },
  KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: {
    key: 'convertHeartbeatTimeoutSeconds',
    schema: whole(2, 3600),
    default: '20',
    doc: 'how soon an attempt on a dead worker is retried elsewhere',
  },
  KILN_AVIF_EFFORT: {
    key: 'avifEffort',
    schema: whole(0, 9),
    default: '2',
    doc: 'AVIF encoder effort; sharp’s default 4 is ~8× slower for a few % smaller files',
  },
  KILN_WEBHOOK_RETRY_SCHEDULE: {
    key: 'webhookRetrySchedule',
    schema: schedule(),
    default: '30s,2m,10m',
    emptyIsValue: true,
    doc: 'default waits between webhook attempts (at most 20, each up to `7d`); empty for a single attempt',
  },
  KILN_WEBHOOK_TIMEOUT_SECONDS: { key: 'webhookTimeoutSeconds', schema: whole(1, 120), default: '10', doc: 'how long one attempt may take' },
  KILN_ENDPOINT_DISABLE_AFTER: {
    key: 'endpointDisableAfterSeconds',
    schema: duration(),
    default: '5d',
    doc: 'an endpoint whose attempts have all failed this long is disabled',
  },
  KILN_WEBHOOK_SECRET_OVERLAP: {
    key: 'webhookSecretOverlapSeconds',
    schema: duration(),
    default: '24h',
    doc: 'how long a rotated-out secret keeps signing beside the new one',
  },
  KILN_WEBHOOK_ALLOWED_CIDRS: {
    key: 'webhookAllowedCidrs',
    schema: cidrs(),
    emptyIsValue: true,
    shown: '`kiln dev`: `127.0.0.0/8,::1/128`; others: none (set it alike for `kiln api` and `kiln worker`: both make first attempts)',
    doc: 'ranges webhooks may reach although they are not public, e.g. `10.0.0.0/8` for receivers inside your network; set it empty to allow none under `kiln dev`',
  },
  KILN_TEMPLATE_TIMEOUT_MS: {
    key: 'templateTimeoutMs',
    schema: whole(10, 10_000),
    default: '250',
    doc: 'how long one payload template may run per attempt (or per sample when saved); past it the render fails with error class `template`',
  },
  KILN_TEMPLATE_MAX_BYTES: { key: 'templateMaxBytes', schema: bytes(1024, 16 * 1024 ** 2), default: '256KiB', doc: 'the largest body a template may produce' },
  KILN_TEMPLATE_MEMORY_MB: {
    key: 'templateMemoryMb',
    schema: whole(16, 1024),
    default: '64',
    doc: 'the heap (MiB) of the process that renders templates (one per Kiln process, started when first needed)',
  },
  KILN_DELIVER_CONCURRENCY: {
    key: 'deliverConcurrency',
    schema: whole(1, 10_000),
    default: '100',
    doc: 'webhook attempts a process makes at once: first attempts (in the worker and in the API; on the embedded database, at most 8 start while an API request of the same process is under way), and retries on `kiln-deliver` (in the worker)',
  },
  KILN_IDEMPOTENCY_TTL: {
    key: 'idempotencyTtlSeconds',
    schema: duration(),
    default: '24h',
    doc: 'how long an Idempotency-Key and its first response are kept',
  },
  KILN_BLOB_DIR: { key: 'blobDir', schema: directory(), shown: '`<data dir>/blobs`', doc: 'where blobs live (shared by API and workers)' },
  KILN_S3_BUCKET: {
    key: 's3Bucket',
    schema: text(),
    shown: 'unset (blobs in `KILN_BLOB_DIR`)',
    doc: 'keep blobs in this S3-compatible bucket instead: uploads, outputs, renditions, assets; archives are built from it',
  },
  KILN_S3_REGION: { key: 's3Region', schema: text(), default: 'us-east-1', doc: 'the bucket’s region' },
  KILN_S3_ENDPOINT: { key: 's3Endpoint', schema: baseUrl(), shown: 'AWS', doc: 'a non-AWS S3 server’s URL (MinIO, versitygw, s3proxy, …)' },
  KILN_S3_FORCE_PATH_STYLE: {
    key: 's3PathStyle',
    schema: choice(['auto', 'true', 'false']),
    default: 'auto',
    shown: '`auto` (path style when `KILN_S3_ENDPOINT` is set)',
    doc: 'address the bucket by path (`true`) or by host (`false`)',
  },
  KILN_S3_PREFIX: { key: 's3Prefix', schema: text(), default: '', shown: 'empty', doc: 'put before every key, e.g. `kiln/`' },
  KILN_METRICS_PORT: {
    key: 'metricsPort',
    schema: whole(0, 65535),
    default: '0',
    shown: '`0` (none)',
    doc: '`kiln worker`: the port of its `/metrics`, `/livez` and `/readyz` (on `HOST`); the API serves its own on `PORT`',
  },
  KILN_WORKER_NAME: {
    key: 'workerName',
    schema: text(),
    default: os.hostname(),
    shown: 'the host name',
    doc: '`kiln worker`: its name in the Temporal worker identity (`<name>/<pid>@<host>`) the Web UI lists beside each poller',
  },
  KILN_SHUTDOWN_GRACE_SECONDS: {
    key: 'shutdownGraceSeconds',
    schema: whole(0, 3600),
    default: '60',
    doc: 'on SIGTERM a worker stops taking tasks at once and gives running conversions and deliveries this long to finish before cancelling them; give your orchestrator’s stop timeout a little more',
  },
  KILN_RETENTION_ORIGINALS: {
    key: 'retentionOriginals',
    schema: duration(),
    default: '7d',
    doc: 'uploaded and fetched originals are deleted this long after every conversion reading them ended (a job can then no longer name them)',
  },
  KILN_RETENTION_OUTPUTS: {
    key: 'retentionOutputs',
    schema: duration(),
    default: '30d',
    doc: 'outputs and renditions are deleted this long after their conversion ended; it still reads, with `output_purged_at`, and its links answer 410 `output_expired`',
  },
  KILN_RETENTION_ARCHIVES: {
    key: 'retentionArchives',
    schema: duration(),
    default: '7d',
    doc: 'how long after a job ends its archive is served (archives are zipped from the outputs on each download; past this, 410 `archive_expired`)',
  },
  KILN_RETENTION_EVENTS: {
    key: 'retentionEvents',
    schema: duration(),
    default: '30d',
    doc: 'event payloads are emptied this long after the event (the row, its type and its delivery log stay; a retry answers 409 `event_purged`); never while a delivery of it is pending',
  },
  KILN_RETENTION_ATTEMPTS: {
    key: 'retentionAttempts',
    schema: duration(),
    default: '30d',
    doc: 'the requests and response body previews of delivery attempts are removed this long after the attempt',
  },
  KILN_SIGN_IN_LINK_TTL: {
    key: 'signInLinkTtlSeconds',
    schema: duration(),
    default: '15m',
    doc: 'how long a dashboard sign-in link (`kiln sign-in-link`, `POST /v1/sign-in-links`) can be used, once; a request may ask for less',
  },
  KILN_DASHBOARD_SESSION: {
    key: 'dashboardSessionSeconds',
    schema: duration(),
    default: '12h',
    doc: 'lifetime of the API key a sign-in link is exchanged for (the tab’s session); signing out revokes it sooner',
  },
  KILN_LOG_LEVEL: { key: 'logLevel', schema: choice(LOG_LEVELS), default: 'info', doc: 'Kiln’s JSON log on stderr' },
  KILN_TEMPORAL_LOG_LEVEL: {
    key: 'temporalLogLevel',
    schema: choice(TEMPORAL_LOG_LEVELS),
    default: 'WARN',
    doc: 'the Temporal SDK’s native runtime, logged through Kiln’s log',
  },
  TEMPORAL_CLI_PATH: { key: 'temporalCliPath', schema: text(), doc: 'a `temporal` binary for `kiln dev` instead of one on `PATH` or the cached build' },
  TEMPORAL_TEST_SERVER_PATH: {
    key: 'temporalTestServerPath',
    schema: text(),
    doc: 'a time-skipping test server launcher for the tests instead of building one',
  },
  KILN_CACHE_DIR: {
    key: 'cacheDir',
    schema: directory(),
    shown: '`$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`',
    doc: 'where the Temporal servers and the tests’ tools are built and cached',
  },
  XDG_CACHE_HOME: { key: 'xdgCacheHome', schema: directory(), shown: 'unset', doc: 'the user’s cache directory, under which `KILN_CACHE_DIR` defaults' },
  PATH: {
    key: 'searchPath',
    schema: separated(path.delimiter, 'directories'),
    default: '',
    shown: 'the system’s',
    doc: 'where `kiln dev` and the tools look for `temporal` and `go`',
  },
});

type Settings = SettingsOf<typeof SETTINGS>;

/** Values whose defaults come from other settings. */
type Derived = 'blobDir' | 'sourceMaxBytes' | 'jobConcurrency' | 'cacheDir';

/** Every setting Kiln runs with, by its SETTINGS key. */
export type KilnConfig = Omit<Settings, Derived> & { [K in Derived]: NonNullable<Settings[K]> };

/** Every environment variable Kiln reads itself (the AWS SDK reads its own AWS_* besides). */
export const SETTING_NAMES: readonly string[] = Object.keys(SETTINGS);

/** Parses the settings; every problem is named by its variable, all of them at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): KilnConfig {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[string, Setting]>) {
    const raw = env[name];
    const given = raw === undefined || (raw === '' && !setting.emptyIsValue) ? setting.default : raw;
    if (given === undefined) continue;
    const parsed = setting.schema.safeParse(given);
    if (parsed.success) values[setting.key] = parsed.data;
    else problems.push(`${name}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  const settings = values as Settings;
  return {
    ...settings,
    blobDir: settings.blobDir ?? path.join(settings.dataDir, 'blobs'),
    sourceMaxBytes: settings.sourceMaxBytes ?? settings.maxUploadBytes,
    // A worker takes two convert tasks per converter: a window of twice the converters keeps one worker's slots full.
    jobConcurrency: settings.jobConcurrency ?? 2 * settings.convertConcurrency,
    cacheDir: settings.cacheDir ?? path.join(settings.xdgCacheHome ?? path.join(os.homedir(), '.cache'), 'kiln'),
  };
}

/** docs/configuration.md's table of every setting, as `npm run docs:config` writes it. */
export function settingsReference(): string {
  const cell = (value: string): string => value.replaceAll('|', '\\|');
  const rows = (Object.entries(SETTINGS) as Array<[string, Setting]>).map(([name, setting]) => {
    const shown = setting.shown ?? (setting.default === undefined ? 'unset' : `\`${setting.default}\``);
    return `| \`${name}\` | ${cell(shown)} | ${cell(setting.schema.description ?? '')} | ${cell(setting.doc)} |`;
  });
  return ['| variable | default | accepts | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
