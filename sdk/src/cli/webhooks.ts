import { readFile } from 'node:fs/promises';
import { signWebhook, verifyWebhook } from '../webhooks.js';
import { WebhookVerificationError } from '../errors.js';
import type { StreamedEvent } from '../sse.js';
import { UsageError } from './args.js';
import { readStdin, type Command, type Context } from './command.js';

/** Stops the stream on Ctrl-C (or after `--max-events`), so the command exits 0 with its lines written. */
function stopper(): { signal: AbortSignal; stop(): void; dispose(): void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    stop,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** Reads the account's live events until stopped; `each` gets them one at a time, in order. */
async function readLive(
  ctx: Context,
  types: string[] | undefined,
  maxEvents: number | undefined,
  opened: string,
  each: (event: StreamedEvent) => void | Promise<void>,
): Promise<void> {
  const stop = stopper();
  let seen = 0;
  let opens = 0;
  // Said on stderr once the stream is open (a script may wait for it), and after each reconnection.
  const onOpen = (): void => ctx.err(opens++ === 0 ? opened : `reconnected to ${ctx.profile().url}; resuming after the last event`);
  try {
    for await (const event of ctx.client().streamEvents({ ...(types ? { types } : {}), signal: stop.signal, onOpen })) {
      await each(event);
      if (maxEvents !== undefined && ++seen >= maxEvents) break;
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    stop.dispose();
  }
}

const clock = (): string => new Date().toISOString().slice(11, 23);

/** The secret `listen` signs with: given, an endpoint's, or the account's (which signs deliveries to a request's webhook_url). */
async function listenSecret(ctx: Context, given: string | undefined, endpoint: string | undefined): Promise<{ secrets: string[]; source: string }> {
  if (given) return { secrets: [given], source: '--secret' };
  const path = endpoint ? `/v1/webhooks/endpoints/${endpoint}/secret` : '/v1/webhooks/secret';
  const { secret } = await ctx.client().json<{ secret: string }>('GET', path);
  return { secrets: [secret], source: endpoint ? `endpoint ${endpoint}'s secret` : "the account's webhook secret" };
}

export const WEBHOOK_COMMANDS: Command[] = [
  {
    name: 'events tail',
    summary: "The account's events as they happen, until Ctrl-C",
    options: [
      ['--type T,…', 'only these event types'],
      ['--max-events N', 'stop after N events'],
    ],
    examples: ['kiln events tail', 'kiln events tail --type conversion.failed,job.failed --json | jq .data'],
    async run(ctx) {
      const types = ctx.flags.list('type');
      const maxEvents = ctx.flags.number('max-events');
      ctx.flags.noneLeft();
      const opened = `tailing ${types ? types.join(', ') : 'every event'} of ${ctx.profile().url}; Ctrl-C stops`;
      await readLive(ctx, types, maxEvents, opened, (event) => {
        if (ctx.json) ctx.out(event.data);
        else {
          const body = JSON.parse(event.data) as { data: Record<string, unknown> };
          const subject = [body.data.job_id, body.data.conversion_id, body.data.endpoint_id].find((v): v is string => typeof v === 'string') ?? '';
          ctx.out(`${clock()}  ${event.type.padEnd(20)}  ${event.id}  ${subject}`);
        }
      });
    },
  },
  {
    name: 'listen',
    summary: "Forward the account's events to a receiver on this machine, signed as deliveries are",
    usage: '<local URL>',
    options: [
      ['--events T,…', 'only these event types'],
      ['--endpoint ep_…', "sign with this endpoint's secret (default: the account's webhook secret)"],
      ['--secret whsec_…', 'sign with this secret'],
      ['--max-events N', 'stop after N events'],
    ],
    examples: ['kiln listen http://localhost:4000/webhooks', 'kiln listen http://localhost:4000/hooks --events conversion.completed --endpoint ep_…'],
    async run(ctx) {
      const types = ctx.flags.list('events');
      const endpoint = ctx.flags.string('endpoint');
      const given = ctx.flags.string('secret');
      const maxEvents = ctx.flags.number('max-events');
      ctx.flags.noneLeft();
      const target = ctx.args[0];
      if (!target || ctx.args.length > 1 || !/^https?:\/\//i.test(target)) throw new UsageError('name one receiver URL, e.g. http://localhost:4000/webhooks');
      const { secrets, source } = await listenSecret(ctx, given, endpoint);
      const opened = `forwarding ${types ? types.join(', ') : 'every event'} of ${ctx.profile().url} to ${target}, signed with ${source} (${secrets[0]}); Ctrl-C stops`;
      await readLive(ctx, types, maxEvents, opened, async (event) => {
        const started = performance.now();
        let status: number | null = null;
        let error: string | null = null;
        try {
          const headers = {
            'content-type': 'application/json',
            'user-agent': 'Kiln-CLI-listen',
            'x-kiln-event': event.type,
            ...(await signWebhook(event.data, event.id, secrets)),
          };
          const response = await fetch(target, { method: 'POST', headers, body: event.data, signal: AbortSignal.timeout(30_000) });
          status = response.status;
          await response.body?.cancel();
        } catch (failure) {
          const cause = (failure as { cause?: { code?: string } }).cause;
          error = cause?.code ?? (failure as Error).message;
        }
        const ms = Math.round(performance.now() - started);
        if (ctx.json) ctx.out(JSON.stringify({ event_id: event.id, type: event.type, status, error, duration_ms: ms }));
        else ctx.out(`${clock()}  ${event.type.padEnd(20)}  ${event.id}  → ${status ?? error}  ${ms} ms`);
      });
    },
  },
  {
    name: 'verify',
    summary: "Check a delivery's signature: says whether it holds, and why not",
    usage: '[payload file, or - for stdin]',
    options: [
      ['--secret whsec_…', 'the signing secret (repeat during a rotation)'],
      ['--header "Name: value"', 'a header of the delivery (repeat), e.g. webhook-id, webhook-timestamp, webhook-signature'],
      ['--headers FILE', 'the headers as JSON, or as HTTP lines `Name: value`'],
      ['--tolerance SECONDS', 'how old webhook-timestamp may be (default 300)'],
    ],
    examples: [
      'kiln verify body.json --secret whsec_… --header "webhook-id: evt_…" --header "webhook-timestamp: 1765000000" --header "webhook-signature: v1,…"',
      'curl … -D headers.txt -o body.json; kiln verify body.json --headers headers.txt --secret whsec_…',
    ],
    async run(ctx) {
      const secrets = ctx.flags.list('secret');
      if (!secrets?.length) throw new UsageError('--secret is required');
      const headerLines = ctx.flags.all('header');
      const headersFile = ctx.flags.string('headers');
      const tolerance = ctx.flags.number('tolerance');
      ctx.flags.noneLeft();
      const headers: Record<string, string> = {};
      const addLine = (line: string): void => {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new UsageError(`a header is "Name: value", not ${JSON.stringify(line)}`);
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      };
      if (headersFile) {
        const text = await readFile(headersFile, 'utf8');
        if (text.trim().startsWith('{')) {
          for (const [name, value] of Object.entries(JSON.parse(text) as Record<string, string>)) headers[name.toLowerCase()] = String(value);
        } else for (const line of text.split(/\r?\n/)) if (line.includes(':') && !/^HTTP\//.test(line)) addLine(line);
      }
      headerLines.forEach(addLine);
      const source = ctx.args[0] ?? '-';
      const body = source === '-' ? await readStdin(ctx.io) : await readFile(source, 'utf8');
      try {
        const event = await verifyWebhook(body, headers, secrets, tolerance !== undefined ? { toleranceSeconds: tolerance } : {});
        if (ctx.json) ctx.out(JSON.stringify({ valid: true, event_id: event.id, type: event.type }));
        else ctx.out(`valid: ${event.type} ${event.id}`);
        return 0;
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        if (ctx.json) ctx.out(JSON.stringify({ valid: false, reason: error.reason, message: error.message }));
        else ctx.out(`invalid: ${error.reason} (${error.message})`);
        return 1;
      }
    },
  },
];
