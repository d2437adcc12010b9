import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ListPath } from '../client.js';
import { apiValue, fieldName, UsageError, type Flags } from './args.js';
import { show, table, type Command, type Context } from './command.js';

/** The one positional a command needs, e.g. an id. */
export function only(ctx: Context, what: string): string {
  const [value, ...extra] = ctx.args;
  if (!value) throw new UsageError(`missing ${what}`);
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  return value;
}

/**
 * A JSON body from flags: `fields` lists each flag the command documents, with how its
 * value is read; `--data '{…}'` (or `--data @file.json`) gives any field, the flags after it.
 */
export async function bodyFromFlags(flags: Flags, fields: Record<string, 'text' | 'list' | 'value'>): Promise<Record<string, unknown>> {
  const data = flags.string('data');
  let body: Record<string, unknown> = {};
  if (data !== undefined) {
    const text = data.startsWith('@') ? await readFile(data.slice(1), 'utf8') : data;
    const parsed = apiValue(text.trim());
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--data must be a JSON object');
    body = parsed as Record<string, unknown>;
  }
  for (const [flag, kind] of Object.entries(fields)) {
    if (kind === 'list') {
      const values = flags.list(flag);
      if (values !== undefined) body[fieldName(flag)] = values;
    } else {
      const value = flags.string(flag);
      if (value !== undefined) body[fieldName(flag)] = kind === 'text' ? value : apiValue(value);
    }
  }
  return body;
}

const LIST_OPTIONS = [
  ['--limit N', 'show at most N (default 20)'],
  ['--all', 'every one, page after page'],
] as const;

/** A list: pages through `path` up to `--limit`, other flags as the list's filters (`--status failed`). */
function listCommand(
  name: string,
  summary: string,
  listPath: ListPath,
  columns: readonly string[],
  filters: ReadonlyArray<readonly [string, string]> = [],
): Command {
  return {
    name,
    summary,
    options: [...filters, ...LIST_OPTIONS],
    booleans: ['all'],
    examples: [`kiln ${name}${filters[0] ? ` ${filters[0][0].split(' ')[0]} …` : ''}`, `kiln ${name} --all --json`],
    async run(ctx) {
      const all = ctx.flags.boolean('all');
      const limit = ctx.flags.number('limit') ?? 20;
      const query: Record<string, string> = {};
      for (const [flag, value] of ctx.flags.rest()) {
        if (value === true) throw new UsageError(`--${flag} needs a value`);
        query[fieldName(flag)] = value;
      }
      if (ctx.args.length > 0) throw new UsageError(`unexpected ${ctx.args.join(' ')}`);
      const items: Array<Record<string, unknown>> = [];
      for await (const item of ctx.client().list<Record<string, unknown>>(listPath, { ...query, limit: all ? 100 : Math.min(100, limit) })) {
        items.push(item);
        if (!all && items.length >= limit) break;
      }
      show(ctx, items, (rows: Array<Record<string, unknown>>) => (rows.length === 0 ? 'none' : table(rows, columns)));
    },
  };
}

/** One object by id (or name), shown whole. */
function showCommand(name: string, summary: string, what: string, pathOf: (id: string) => string): Command {
  return {
    name,
    summary,
    usage: `<${what}>`,
    examples: [`kiln ${name} ${what === 'name' ? 'thumbnails' : `${what}…`}`],
    async run(ctx) {
      ctx.flags.noneLeft();
      show(ctx, await ctx.client().json('GET', pathOf(only(ctx, what))));
    },
  };
}

/** A POST (or DELETE) on one object by id, answered as the API answers it. */
function actionCommand(name: string, summary: string, method: 'POST' | 'DELETE', pathOf: (id: string) => string, what = 'id'): Command {
  return {
    name,
    summary,
    usage: `<${what}>`,
    examples: [`kiln ${name} ${what}…`],
    async run(ctx) {
      ctx.flags.noneLeft();
      const response = await ctx.client().request(method, pathOf(only(ctx, what)));
      const text = await response.text();
      if (text) show(ctx, JSON.parse(text));
      else show(ctx, { ok: true }, () => 'done');
    },
  };
}

const ENDPOINT_FIELDS = {
  url: 'text',
  description: 'text',
  'event-types': 'list',
  tags: 'list',
  enabled: 'value',
  'retry-schedule': 'list',
  'rate-limit': 'value',
  headers: 'value',
  signature: 'value',
  template: 'text',
  secret: 'text',
} as const;

const ENDPOINT_OPTIONS = [
  ['--url URL', 'where deliveries go'],
  ['--event-types T,…', 'event types it gets (default: all)'],
  ['--tags T,…', 'only events with one of these tags'],
  ['--retry-schedule 30s,2m,…', 'waits between attempts'],
  ['--rate-limit N', 'deliveries per second at most'],
  ['--description TEXT', ''],
  ['--enabled true|false', ''],
  ['--headers JSON', 'headers sent with each delivery'],
  ['--data JSON|@file', 'any other field of the body'],
] as const;

/** The commands over the API's resources: conversions, jobs, endpoints, deliveries, keys, presets, assets, events. */
export const RESOURCE_COMMANDS: Command[] = [
  listCommand(
    'conversions list',
    'List conversions, newest first',
    '/v1/conversions',
    ['id', 'status', 'input.filename', 'output.format', 'error.code', 'created_at'],
    [['--status S', 'queued, running, succeeded, failed or cancelled']],
  ),
  showCommand('conversions show', 'One conversion', 'id', (id) => `/v1/conversions/${id}`),
  actionCommand('conversions cancel', 'Cancel a conversion', 'POST', (id) => `/v1/conversions/${id}/cancel`),
  listCommand(
    'jobs list',
    'List jobs, newest first',
    '/v1/jobs',
    ['id', 'status', 'progress', 'counts.total', 'counts.failed', 'created_at'],
    [['--status S', 'queued, running, succeeded, failed or cancelled']],
  ),
  showCommand('jobs show', 'One job', 'id', (id) => `/v1/jobs/${id}`),
  actionCommand('jobs cancel', 'Cancel a job and its files not yet ended', 'POST', (id) => `/v1/jobs/${id}/cancel`),

  listCommand('endpoints list', 'List webhook endpoints', '/v1/webhooks/endpoints', ['id', 'url', 'enabled', 'event_types', 'description']),
  showCommand('endpoints show', 'One webhook endpoint', 'id', (id) => `/v1/webhooks/endpoints/${id}`),
  {
    name: 'endpoints create',
    summary: 'Add a webhook endpoint (its signing secret is printed)',
    options: [...ENDPOINT_OPTIONS, ['--secret whsec_…', 'a secret the receiver already holds']],
    examples: ['kiln endpoints create --url https://example.com/hooks --event-types conversion.completed,conversion.failed'],
    async run(ctx) {
      const body = await bodyFromFlags(ctx.flags, ENDPOINT_FIELDS);
      ctx.flags.noneLeft();
      if (!body.url) throw new UsageError('--url is required');
      show(ctx, await ctx.client().json('POST', '/v1/webhooks/endpoints', { json: body }));
    },
  },
  {
    name: 'endpoints update',
    summary: 'Change a webhook endpoint',
    usage: '<id>',
    options: ENDPOINT_OPTIONS,
    examples: ['kiln endpoints update ep_… --enabled false', 'kiln endpoints update ep_… --retry-schedule 10s,1m'],
    async run(ctx) {
      const body = await bodyFromFlags(ctx.flags, { ...ENDPOINT_FIELDS, secret: 'text' });
      ctx.flags.noneLeft();
      show(ctx, await ctx.client().json('PATCH', `/v1/webhooks/endpoints/${only(ctx, 'endpoint id')}`, { json: body }));
    },
  },
  actionCommand('endpoints delete', 'Delete a webhook endpoint', 'DELETE', (id) => `/v1/webhooks/endpoints/${id}`),
  actionCommand(
    'endpoints rotate-secret',
    'A new signing secret; the old one signs too until the overlap ends',
    'POST',
    (id) => `/v1/webhooks/endpoints/${id}/rotate-secret`,
  ),
  showCommand('endpoints secret', "An endpoint's signing secret", 'id', (id) => `/v1/webhooks/endpoints/${id}/secret`),
  actionCommand('endpoints test', 'Send a webhook.test event to an endpoint', 'POST', (id) => `/v1/webhooks/endpoints/${id}/test`),

  listCommand(
    'deliveries list',
    'List webhook deliveries, newest first',
    '/v1/webhooks/deliveries',
    ['id', 'status', 'event_type', 'endpoint_id', 'attempt_count', 'last_status_code', 'created_at'],
    [
      ['--status S', 'pending, succeeded, failed or cancelled'],
      ['--endpoint-id ep_…', ''],
      ['--event-type T', ''],
    ],
  ),
  showCommand('deliveries show', 'One delivery with every attempt', 'id', (id) => `/v1/webhooks/deliveries/${id}`),
  actionCommand('deliveries retry', 'Attempt a delivery again now', 'POST', (id) => `/v1/webhooks/deliveries/${id}/retry`),
  actionCommand('deliveries cancel', "Cancel a delivery's pending retries", 'POST', (id) => `/v1/webhooks/deliveries/${id}/cancel`),
  {
    name: 'recover',
    summary: "Send an endpoint's failed (or pending) deliveries again, from a time on",
    options: [
      ['--endpoint ep_…', 'the endpoint'],
      ['--since TIME', 'ISO-8601, or a span back from now: 30m, 6h, 2d'],
      ['--status failed,pending', 'which deliveries (default failed)'],
      ['--dry-run', 'only say how many would be sent'],
    ],
    booleans: ['dry-run'],
    examples: ['kiln recover --endpoint ep_… --since 6h --dry-run', 'kiln recover --endpoint ep_… --since 2026-12-01T00:00:00Z --status failed,pending'],
    async run(ctx) {
      const endpoint = ctx.flags.required('endpoint', 'the endpoint id (ep_…)');
      const since = sinceTime(ctx.flags.required('since', 'ISO-8601 or a span such as 6h'));
      const status = ctx.flags.list('status');
      const dryRun = ctx.flags.boolean('dry-run');
      ctx.flags.noneLeft();
      const result = await ctx.client().json<{ redelivered: number; delivery_ids: string[] }>('POST', '/v1/webhooks/recover', {
        json: { endpoint_id: endpoint, since, ...(status ? { status } : {}), ...(dryRun ? { dry_run: true } : {}) },
      });
      show(ctx, result, (r: { redelivered: number; delivery_ids: string[] }) =>
        [
          `${dryRun ? 'would send' : 'sending'} ${r.redelivered} deliver${r.redelivered === 1 ? 'y' : 'ies'} again${dryRun ? ' (dry run: none sent)' : ''}`,
          ...r.delivery_ids,
        ].join('\n'),
      );
    },
  },

  listCommand('keys list', "The account's live API keys", '/v1/api-keys', ['id', 'name', 'prefix', 'created_at', 'last_used_at']),
  {
    name: 'keys create',
    summary: 'A new API key for this account (shown once)',
    options: [
      ['--name NAME', 'what it is for'],
      ['--account NAME', 'operators: make the key in the database directly (the server package’s kiln, with DATABASE_URL)'],
    ],
    examples: ['kiln keys create --name ci'],
    async run(ctx) {
      if (ctx.flags.has('account')) {
        // Only the server's kiln reaches here with --account when it cannot handle it (this is the SDK package's).
        throw new UsageError(
          "--account makes a key in Kiln's database directly: run it with the server's kiln, where DATABASE_URL (or kiln dev's data directory) is",
        );
      }
      const name = ctx.flags.string('name') ?? 'cli';
      ctx.flags.noneLeft();
      // Kiln does not replay this POST: the key exists in plain text only in its answer.
      const response = await ctx.client().request('POST', '/v1/api-keys', { json: { name }, idempotent: false });
      show(ctx, await response.json());
    },
  },
  actionCommand('keys revoke', 'Revoke an API key at once', 'DELETE', (id) => `/v1/api-keys/${id}`),

  listCommand('presets list', 'Saved sets of conversion options', '/v1/presets', ['name', 'options', 'updated_at']),
  showCommand('presets show', 'One preset', 'name', (name) => `/v1/presets/${encodeURIComponent(name)}`),
  {
    name: 'presets set',
    summary: 'Save a preset: every conversion option as a flag',
    usage: '<name> --to FORMAT [--width …] [any conversion option]',
    passesOptions: 'every other --flag is a conversion option (--width 800, --strip-metadata, --watermark …)',
    examples: ['kiln presets set thumbnails --to webp --width 320 --height 320 --fit cover'],
    async run(ctx) {
      const name = only(ctx, 'name');
      const options = conversionOptions(ctx.flags);
      const saved = await ctx.client().savePreset(name, options);
      show(ctx, saved);
    },
  },
  actionCommand('presets delete', 'Delete a preset', 'DELETE', (name) => `/v1/presets/${encodeURIComponent(name)}`, 'name'),

  listCommand('assets list', 'Images kept for watermarks and overlays', '/v1/assets', ['id', 'filename', 'format', 'width', 'height', 'bytes']),
  {
    name: 'assets upload',
    summary: 'Keep an image for watermarks and overlays',
    usage: '<file>',
    examples: ['kiln assets upload logo.png'],
    async run(ctx) {
      ctx.flags.noneLeft();
      const file = only(ctx, 'file');
      const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${file}: ${error.code ?? error.message}`);
      });
      const form = () => {
        const body = new FormData();
        body.append('file', new File([bytes], path.basename(file)));
        return body;
      };
      show(ctx, await ctx.client().json('POST', '/v1/assets', { body: form }));
    },
  },
  actionCommand('assets delete', 'Delete an asset', 'DELETE', (id) => `/v1/assets/${id}`),

  listCommand(
    'events list',
    "The account's events, newest first",
    '/v1/events',
    ['id', 'type', 'timestamp'],
    [
      ['--type T', 'one event type'],
      ['--subject-id ID', "a conversion's or job's events"],
    ],
  ),
  showCommand('events show', 'One event', 'id', (id) => `/v1/events/${id}`),
  {
    name: 'sign-in-link',
    summary: 'A link that opens the dashboard signed in as this account, once (hand it over instead of a key)',
    options: [['--expires-in MINUTES', 'how long it can be used (default and most: the server’s KILN_SIGN_IN_LINK_TTL, 15 minutes unless set)']],
    examples: ['kiln sign-in-link', 'kiln sign-in-link --expires-in 5'],
    async run(ctx) {
      const minutes = ctx.flags.number('expires-in');
      ctx.flags.noneLeft();
      if (minutes !== undefined && !(minutes >= 1)) throw new UsageError('--expires-in is at least 1 (minutes)');
      // Not replayed: only the link's hash is kept, so a lost answer means making another.
      const response = await ctx.client().request('POST', '/v1/sign-in-links', {
        json: minutes === undefined ? {} : { expires_in_seconds: Math.round(minutes * 60) },
        idempotent: false,
      });
      const link = (await response.json()) as { url: string; expires_at: string };
      show(ctx, link, (l: { url: string; expires_at: string }) => `${l.url}\n(good once, until ${l.expires_at})`);
    },
  },
  {
    name: 'usage',
    summary: "The account's quotas and rate limits, and how much of each is used",
    examples: ['kiln usage --json'],
    async run(ctx) {
      ctx.flags.noneLeft();
      show(ctx, await ctx.client().json('GET', '/v1/usage'));
    },
  },
];

/** Every conversion option from flags: `--to` names the format, `--preset` a preset, the rest go as they are. */
export function conversionOptions(flags: Flags): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const to = flags.string('to');
  if (to !== undefined) options.output_format = to;
  for (const [flag, value] of flags.rest()) options[fieldName(flag)] = apiValue(value);
  return options;
}

/** `--since`: an ISO-8601 time, or a span back from now (`90s`, `30m`, `6h`, `2d`). */
export function sinceTime(value: string, now = Date.now()): string {
  const span = /^(\d+)(s|m|h|d)$/.exec(value);
  if (span) {
    const seconds = Number(span[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[span[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - seconds * 1000).toISOString();
  }
  if (Number.isNaN(Date.parse(value))) throw new UsageError(`--since must be ISO-8601 or a span such as 6h, not ${JSON.stringify(value)}`);
  return value;
}
