import Router from '@koa/router';
import { findEvent, listEvents } from '../../db/events.js';
import type { EventRow } from '../../db/schema.js';
import { EVENT_TYPES } from '../../model/event-catalog.js';
import { webhookEnvelope } from '../../webhooks/payload.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';
import { pathId, queryChoice, queryParameter } from '../params.js';
import { isId } from '../../ids.js';

function presentEvent(event: EventRow): Record<string, unknown> {
  return { ...webhookEnvelope(event, undefined, new Date()), object: 'event', subject_id: event.subject_id };
}

const eventNotFound = (id: string): ApiError => new ApiError(404, 'event_not_found', `no event ${id}`);

/** The account's events, newest first: what was (or will be) delivered. */
export function eventRoutes(deps: ApiDependencies): Router {
  const router = new Router();

  router.get('/v1/events', async (ctx) => {
    const page = readPage(ctx.query);
    const type = queryChoice(ctx.query, 'type', EVENT_TYPES);
    const subjectId = queryParameter(ctx.query, 'subject_id');
    if (subjectId !== undefined && !isId(subjectId)) {
      throw new ApiError(400, 'invalid_parameter', 'subject_id must be the id of a conversion or an endpoint', { parameter: 'subject_id' });
    }
    const rows = await listEvents(deps.db, accountOf(ctx).id, { type, subjectId }, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, presentEvent);
  });

  router.get('/v1/events/:id', async (ctx) => {
    const id = pathId(ctx, 'evt', eventNotFound);
    const event = await findEvent(deps.db, accountOf(ctx).id, id);
    if (!event) throw eventNotFound(id);
    ctx.body = presentEvent(event);
  });

  return router;
}
