import { describeEventTypes } from '../../model/event-catalog.js';
import { sampleEvent } from '../../events/samples.js';
import { webhookEnvelope } from '../../webhooks/payload.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';

/** The event catalog: every type Kiln publishes, with the JSON Schema of its data and an example body. */
export function eventTypeOperations(deps: Pick<ApiDependencies, 'signer'>): Operation[] {
  return [
    operation({
      operationId: 'listEventTypes',
      method: 'get',
      path: '/v1/webhooks/event-types',
      summary: 'Every event type with the JSON Schema of its data and an example',
      tag: 'Webhooks',
      auth: 'api_key',
      answers: { 200: jsonAnswer('The catalog', s.page(s.EventType, 'EventTypePage')) },
      handler: (ctx) => {
        const now = new Date();
        const accountId = accountOf(ctx).id;
        ctx.body = {
          data: describeEventTypes().map((described) => ({
            ...described,
            example: webhookEnvelope(sampleEvent(described.type, accountId, now), deps.signer, now),
          })),
          next_cursor: null,
        };
      },
    }),
  ];
}
