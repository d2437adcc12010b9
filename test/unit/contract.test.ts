import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { apiRouters } from '../../src/api/app.js';
import type { ApiDependencies } from '../../src/api/context.js';
import { loadConfig } from '../../src/config.js';
import { EVENT_TYPES } from '../../src/model/event-catalog.js';
import { contract } from '../support/contract.js';

// What real answers and deliveries look like is checked against this document in every
// API test (test/support/http.ts and receiver.ts); here, the document itself.

test('the OpenAPI document is valid OpenAPI 3.1 (an independent validator)', async () => {
  const validator = new Validator();
  const result = await validator.validate(contract as unknown as Parameters<Validator['validate']>[0]);
  assert.deepEqual(result.errors ?? [], [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
  assert.equal(result.valid, true);
  assert.equal(validator.version, '3.1');
});

test('every route Kiln serves is in the document, and nothing else is', () => {
  // Routers are only built here, never run: no database or Temporal is touched.
  const deps = { config: loadConfig({}), delivery: { defaultRetrySchedule: [30], requestTimeoutSeconds: 10 }, metrics: {} } as unknown as ApiDependencies;
  // The document, its page, and Prometheus's text format: about the API, not part of it.
  const META = new Set(['/openapi.json', '/docs', '/docs/assets/init.js', '/docs/assets/:name', '/metrics']);
  const served = apiRouters(deps)
    .flatMap((router) => router.stack)
    .filter((layer) => layer.methods.length > 0 && !META.has(String(layer.path)))
    .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`));
  const documented = Object.entries(contract.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
  assert.deepEqual([...new Set(served)].sort(), documented.sort());
});

test('every route documents its errors as problems, and the webhooks section has every event type', () => {
  for (const [path, operations] of Object.entries(contract.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const statuses = Object.keys(operation.responses);
      assert.ok(
        statuses.some((s) => s.startsWith('2')),
        `${method} ${path} has a success`,
      );
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        assert.ok(operation.responses[status]?.content?.['application/problem+json'], `${method} ${path} ${status} is a problem`);
      }
      if (!['/healthz', '/livez', '/readyz', '/v1/downloads/{id}'].includes(path))
        assert.ok(statuses.includes('401'), `${method} ${path} says it needs a credential`);
    }
  }
  assert.deepEqual(Object.keys(contract.webhooks).sort(), [...EVENT_TYPES].sort());
});
