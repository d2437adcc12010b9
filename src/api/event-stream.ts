import { PassThrough } from 'node:stream';
import { z } from 'zod';
import type { Context } from 'koa';
import type { Kysely } from 'kysely';
import { subjectEventsAfter, typeOfSubjectEvent } from '../db/events.js';
import type { Database, EventRow } from '../db/schema.js';
import { EVENT_TYPES, type EventType } from '../model/event-catalog.js';
import { isId } from '../ids.js';
import type { LogFunction } from '../log.js';
import type { DownloadSigner } from '../signing/download-url.js';
import { webhookEnvelope } from '../webhooks/payload.js';
import { queryParameter } from './params.js';
import { ApiError } from '../problem.js';
import type { ApiDependencies } from './context.js';
import { FALLBACK_LOOK_MS, type EventBell } from '../events/event-bell.js';

/** Events written per read of the database. */
const BATCH = 200;
/** How long a browser waits before it reconnects after a dropped connection. */
const RETRY_MS = 2000;

export interface EventStreamSubject {
  accountId: string;
  /** The job or conversion whose events are streamed. */
  id: string;
  /** The events after which nothing more comes (the object has ended). */
  finalTypes: ReadonlySet<EventType>;
}

/** What a stream sends: its events in order, after a given one. */
export interface EventStreamSource {
  /** Names the stream in the log. */
  name: string;
  /** The account whose events these are: a new one of its wakes the stream. */
  accountId: string;
  /** The type of `eventId` when the stream has it (a client resuming after it); undefined otherwise. */
  typeOf(eventId: string): Promise<EventType | undefined>;
  /** Events after `afterId` (from the start when undefined), in the stream's order. */
  read(afterId: string | undefined, limit: number): Promise<EventRow[]>;
  /** The events after which nothing more comes; empty for a stream that never ends. */
  finalTypes: ReadonlySet<EventType>;
}

/** One conversion's or job's events, in the order stored, ending after its final event. */
export function subjectStream(db: Kysely<Database>, subject: EventStreamSubject): EventStreamSource {
  return {
    name: subject.id,
    accountId: subject.accountId,
    typeOf: (eventId) => typeOfSubjectEvent(db, subject.id, eventId),
    read: (afterId, limit) => subjectEventsAfter(db, subject.accountId, subject.id, afterId, limit),
    finalTypes: subject.finalTypes,
  };
}

export interface EventStreamSettings {
  db: Kysely<Database>;
  bell: EventBell;
  signer: DownloadSigner;
  keepAliveMs: number;
  log: LogFunction;
}

export function streamSettings(deps: ApiDependencies): EventStreamSettings {
  return { db: deps.db, bell: deps.bell, signer: deps.signer, keepAliveMs: deps.config.streamKeepAliveSeconds * 1000, log: deps.log };
}

/** One event in the text/event-stream format: the same body a webhook gets, on one line. */
function frame(event: EventRow, signer: DownloadSigner): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(webhookEnvelope(event, signer, new Date()))}\n\n`;
}

/**
 * Answers a Server-Sent Events stream of the subject's events: those stored so far (after
 * `Last-Event-ID`, the header a reconnecting EventSource sends, or the `last_event_id`
 * query parameter), then each new one as it is stored, with a keep-alive comment while
 * nothing happens. It ends after the subject's final event; a client that reconnects
 * after that gets 204, which tells an EventSource to stop.
 */
export async function streamEvents(ctx: Context, source: EventStreamSource, settings: EventStreamSettings): Promise<void> {
  const { signer } = settings;
  // An EventSource sends the header; a client that cannot set headers, the query parameter. Either, given, must name an event.
  const header = ctx.headers['last-event-id'];
  const lastEventId = header === undefined ? queryParameter(ctx.query, 'last_event_id') : String(header);
  if (lastEventId !== undefined) {
    const seen = isId(lastEventId) ? await source.typeOf(lastEventId) : undefined;
    if (!seen) {
      throw new ApiError(400, 'invalid_last_event_id', 'Last-Event-ID must be the id of an event of this stream', { last_event_id: lastEventId.slice(0, 64) });
    }
    if (source.finalTypes.has(seen)) {
      // The client has had everything: 204 is how a server tells an EventSource not to reconnect.
      ctx.status = 204;
      return;
    }
  }
  let cursor = lastEventId;
  // Armed before each read, so an event stored while it reads wakes the next wait at once.
  const arm = (): Promise<void> => settings.bell.next(source.accountId, Math.min(FALLBACK_LOOK_MS, settings.keepAliveMs));
  let woken = arm();
  let pending = await source.read(cursor, BATCH);

  const stream = new PassThrough();
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('Connection', 'keep-alive');
  // Proxies such as nginx would otherwise hold events back in their buffers.
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = stream;
  ctx.req.socket.setNoDelay(true);

  let open = true;
  let wake: (() => void) | undefined;
  const close = (): void => {
    open = false;
    wake?.();
  };
  ctx.req.once('close', close);
  stream.once('close', close);

  /** Writes, then waits while a slow client's buffer is full: a long backlog is read from the database as fast as it is sent, no faster. */
  const send = async (text: string): Promise<void> => {
    // A stream already closed would never drain again.
    if (!open || stream.destroyed || stream.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.once('drain', done);
      stream.once('close', done);
    });
  };

  void (async () => {
    let lastWrite = Date.now();
    try {
      await send(`retry: ${RETRY_MS}\n\n`);
      while (open) {
        for (const event of pending) {
          if (!open) return;
          await send(frame(event, signer));
          lastWrite = Date.now();
          cursor = event.id;
          if (source.finalTypes.has(event.type)) {
            stream.end();
            return;
          }
        }
        if (pending.length < BATCH) {
          if (Date.now() - lastWrite >= settings.keepAliveMs) {
            await send(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            void woken.then(resolve);
          });
          // The armed wait is spent: arm the next before reading. A full batch read on at once, under the same one.
          woken = arm();
        }
        if (open) pending = await source.read(cursor, BATCH);
      }
    } catch (error) {
      settings.log(`the event stream of ${source.name} failed`, error);
      stream.destroy(error as Error);
    } finally {
      ctx.req.off('close', close);
    }
  })();
}

/** Resuming a stream: the `last_event_id` query parameter, for clients that cannot set the header. */
export const lastEventIdQuery = z
  .string()
  .regex(/^evt_[0-9a-z]{23}$/)
  .optional()
  .describe('Resume after this event, as the Last-Event-ID header does');

/** Resuming a stream: the header an EventSource sends when it reconnects. */
export const lastEventIdHeader = z
  .string()
  .regex(/^evt_[0-9a-z]{23}$/)
  .optional()
  .meta({ param: { name: 'Last-Event-ID', in: 'header', description: 'Resume after this event (an EventSource sends it when it reconnects)' } });

/** The contract of an object's event stream, the same for a conversion and a job: all but its id, path and handler. */
export function eventStreamContract(what: 'conversion' | 'job', notFound: string) {
  return {
    summary: `The ${what}'s events as Server-Sent Events, live, until its final event`,
    tag: what === 'job' ? 'Jobs' : 'Conversions',
    auth: 'api_key_or_link' as const,
    query: z.object({
      expires: z.string().regex(/^\d+$/).optional().describe('From stream_url: with signature, it replaces the API key'),
      signature: z.string().optional().describe('From stream_url'),
      last_event_id: lastEventIdQuery,
    }),
    headers: [lastEventIdHeader],
    answers: {
      200: eventStreamAnswer('the stream ends after the final event'),
      204: { description: 'Last-Event-ID was the final event: nothing more will come (an EventSource stops reconnecting)' },
    },
    problems: { 400: ['invalid_last_event_id', 'invalid_parameter'], 403: ['invalid_signature'], 404: [notFound], 410: ['link_expired'] },
  };
}

/** The 200 answer of an event stream: each event as `id:`, `event:` and `data:`. */
export function eventStreamAnswer(ending: string) {
  return {
    description: `Each event as \`id:\` (the event id), \`event:\` (its type) and \`data:\` (the body a webhook gets), in order; \`: keep-alive\` comments every KILN_STREAM_KEEPALIVE_SECONDS while idle; ${ending}`,
    content: {
      'text/event-stream': z
        .object({
          id: z
            .string()
            .regex(/^evt_[0-9a-z]{23}$/)
            .describe('The event id (resume after it with Last-Event-ID)'),
          event: z.enum(EVENT_TYPES).describe('Its type'),
          data: z.string().meta({ contentMediaType: 'application/json' }).describe('The body a webhook of it carries, as JSON'),
        })
        .describe('Each event of the stream'),
    },
  };
}
