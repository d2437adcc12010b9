import { describeEventTypes } from '../../model/event-catalog.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';

/** The event catalog: every type Kiln publishes, with the JSON Schema of its data. */
export function eventTypeOperations(): Operation[] {
  return [
    operation({
      operationId: 'listEventTypes',
      method: 'get',
      path: '/v1/webhooks/event-types',
      summary: 'Every event type with the JSON Schema of its data',
      tag: 'Webhooks',
      auth: 'api_key',
      answers: { 200: jsonAnswer('The catalog', s.page(s.EventType, 'EventTypePage')) },
      handler: (ctx) => {
        ctx.body = { data: describeEventTypes(), next_cursor: null };
      },
    }),
  ];
}
