import Router from '@koa/router';
import { describeEventTypes } from '../../model/event-catalog.js';

/** The event catalog: every type Kiln publishes, with the JSON Schema of its data. */
export function eventTypeRoutes(): Router {
  const router = new Router();

  router.get('/v1/webhooks/event-types', (ctx) => {
    ctx.body = { data: describeEventTypes(), next_cursor: null };
  });

  return router;
}
