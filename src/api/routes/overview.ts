import { z } from 'zod';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';
import { queryWhole } from '../params.js';
import { accountOverview } from '../../db/overview.js';

/** The longest window the overview reads: a week. */
const MAX_HOURS = 168;

/** The account's recent work at a glance, for the dashboard's overview. */
export function overviewOperations(deps: ApiDependencies): Operation[] {
  return [
    operation({
      operationId: 'getOverview',
      method: 'get',
      path: '/v1/overview',
      summary: 'The account’s recent work at a glance: conversions, failures, completion times, deliveries, failing endpoints',
      tag: 'Account',
      auth: 'api_key',
      query: z.object({ hours: z.number().int().min(1).max(MAX_HOURS).optional().describe('The window, in hours back from now (default 24)') }),
      answers: { 200: jsonAnswer('Counts over the window', s.Overview) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const hours = queryWhole(ctx.query, 'hours', 1, MAX_HOURS) ?? 24;
        const since = new Date(Date.now() - hours * 3_600_000);
        const overview = await accountOverview(deps.db, accountOf(ctx).id, since);
        ctx.body = {
          object: 'overview',
          since: since.toISOString(),
          hours,
          conversions: {
            by_status: overview.conversionsByStatus,
            by_format: overview.conversionsByFormat,
            failure_codes: overview.failureCodes,
            completion_ms: overview.completionMs,
          },
          deliveries: { by_status: overview.deliveriesByStatus },
          failing_endpoints: overview.failingEndpoints.map((e) => ({ id: e.id, url: e.url, failing_since: e.failingSince.toISOString(), enabled: e.enabled })),
        };
      },
    }),
  ];
}
