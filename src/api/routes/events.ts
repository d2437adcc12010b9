import { z } from 'zod';
import * as s from '../contract/schemas.js';
import { idParam, jsonAnswer, operation, pageQuery, type Operation } from '../operation.js';
import { accountEventsAfter, findEvent, latestSettledAccountEvent, listEvents, typeOfAccountEvent } from '../../db/events.js';
import type { StoredEventRow } from '../../db/schema.js';
import type { DownloadSigner } from '../../signing/download-url.js';
import { EVENT_TYPES, type EventType } from '../../model/event-catalog.js';
import { eventStreamAnswer, lastEventIdHeader, lastEventIdQuery, streamEvents, streamSettings } from '../event-stream.js';
import { webhookEnvelope } from '../../webhooks/payload.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';
import { pathId, queryChoice, queryParameter } from '../params.js';
import { isId } from '../../ids.js';

/**
 * An event as the API shows it: its body as an attempt made now would send it (links signed
 * now), what it is about, and, once retention emptied it, `data: null` with when.
 */
export function presentEvent(event: StoredEventRow, signer: DownloadSigner, now = new Date()): Record<string, unknown> {
  const envelope = webhookEnvelope(event, signer, now);
  const purged = event.payload_purged_at ? { data: null, payload_purged_at: event.payload_purged_at.toISOString() } : {};
  return { ...envelope, ...purged, object: 'event', subject_id: event.subject_id };
}

/** `type=a,b`: each a known event type (400 otherwise). */
function readTypes(raw: string | undefined): EventType[] | undefined {
  if (raw === undefined) return undefined;
  const types = raw.split(',').map((type) => type.trim());
  const unknown = types.filter((type) => !(EVENT_TYPES as readonly string[]).includes(type));
  if (unknown.length > 0 || types.length === 0) {
    throw new ApiError(400, 'invalid_parameter', `type must list event types, comma-separated: ${EVENT_TYPES.join(', ')}`, { parameter: 'type' });
  }
  return types as EventType[];
}

const subjectIdQuery = z
  .string()
  .regex(/^[a-z]{2,3}_[0-9a-z]{23}$/)
  .optional()
  .describe('Only the events of this conversion, job or endpoint');

const eventNotFound = (id: string): ApiError => new ApiError(404, 'event_not_found', `no event ${id}`);

/** The account's events, newest first: what was (or will be) delivered. */
export function eventOperations(deps: ApiDependencies): Operation[] {
  return [
    operation({
      operationId: 'listEvents',
      method: 'get',
      path: '/v1/events',
      summary: "The account's events, newest first",
      tag: 'Events',
      auth: 'api_key',
      query: z.object({
        ...pageQuery,
        type: z.enum(EVENT_TYPES).optional(),
        subject_id: subjectIdQuery,
      }),
      answers: { 200: jsonAnswer('A page of events', s.page(s.Event, 'EventPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const type = queryChoice(ctx.query, 'type', EVENT_TYPES);
        const subjectId = queryParameter(ctx.query, 'subject_id');
        if (subjectId !== undefined && !isId(subjectId)) {
          throw new ApiError(400, 'invalid_parameter', 'subject_id must be the id of a conversion, a job or an endpoint', { parameter: 'subject_id' });
        }
        const rows = await listEvents(deps.db, accountOf(ctx).id, { type, subjectId }, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, (row) => presentEvent(row, deps.signer));
      },
    }),
    operation({
      operationId: 'streamAccountEvents',
      method: 'get',
      path: '/v1/events/stream',
      summary: "The account's events as Server-Sent Events, live",
      description:
        'Every event of the account from now on (or after `Last-Event-ID`), as each is stored, with `: keep-alive` comments while idle; it never ends by itself. An event shows once every database transaction older than it has ended, so none that commits later can slip behind a resumed stream.',
      tag: 'Events',
      auth: 'api_key',
      query: z.object({
        type: z
          .string()
          .regex(new RegExp(`^(${EVENT_TYPES.join('|')})(,(${EVENT_TYPES.join('|')}))*$`))
          .optional()
          .describe(`Only these types, comma-separated: ${EVENT_TYPES.join(', ')}`),
        subject_id: subjectIdQuery,
        last_event_id: lastEventIdQuery,
      }),
      headers: [lastEventIdHeader],
      answers: { 200: eventStreamAnswer('the stream never ends by itself') },
      problems: { 400: ['invalid_last_event_id', 'invalid_parameter'] },
      handler: async (ctx) => {
        const accountId = accountOf(ctx).id;
        const types = readTypes(queryParameter(ctx.query, 'type'));
        const subjectId = queryParameter(ctx.query, 'subject_id');
        if (subjectId !== undefined && !isId(subjectId)) {
          throw new ApiError(400, 'invalid_parameter', 'subject_id must be the id of a conversion, a job or an endpoint', { parameter: 'subject_id' });
        }
        const resumed = ctx.headers['last-event-id'] !== undefined || ctx.query.last_event_id !== undefined;
        // A new stream starts now: from the account's latest settled event, so it sends what comes next.
        const start = resumed ? undefined : await latestSettledAccountEvent(deps.db, accountId);
        await streamEvents(
          ctx,
          {
            name: `account ${accountId}`,
            accountId,
            typeOf: (eventId) => typeOfAccountEvent(deps.db, accountId, eventId),
            read: (afterId, limit) => accountEventsAfter(deps.db, accountId, { types, ...(subjectId ? { subjectId } : {}) }, afterId ?? start, limit),
            finalTypes: new Set(),
          },
          streamSettings(deps),
        );
      },
    }),
    operation({
      operationId: 'getEvent',
      method: 'get',
      path: '/v1/events/{id}',
      summary: 'One event',
      tag: 'Events',
      auth: 'api_key',
      params: idParam('evt', 'event'),
      answers: { 200: jsonAnswer('The event', s.Event) },
      problems: { 404: ['event_not_found'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'evt', eventNotFound);
        const event = await findEvent(deps.db, accountOf(ctx).id, id);
        if (!event) throw eventNotFound(id);
        ctx.body = presentEvent(event, deps.signer);
      },
    }),
  ];
}
