import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { apiRouters } from '../../src/api/app.js';
import { PROBLEM_CODES_EXTENSION, problemsOf } from '../../src/api/contract/openapi.js';
import type { Operation } from '../../src/api/operation.js';
import { adminOperations } from '../../src/api/routes/admin.js';
import { apiKeyOperations } from '../../src/api/routes/api-keys.js';
import { assetOperations } from '../../src/api/routes/assets.js';
import { conversionOperations } from '../../src/api/routes/conversions.js';
import { eventOperations } from '../../src/api/routes/events.js';
import { jobOperations } from '../../src/api/routes/jobs.js';
import { presetOperations } from '../../src/api/routes/presets.js';
import { requestWebhookOperations } from '../../src/api/routes/request-webhooks.js';
import { webhookDeliveryOperations } from '../../src/api/routes/webhook-deliveries.js';
import { webhookEndpointOperations } from '../../src/api/routes/webhook-endpoints.js';
import { projectRoot } from '../../src/paths.js';
import { MAX_FIELDS } from '../../src/api/upload.js';
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
  // The reference page rendered from the document, and the dashboard: pages about the API, not part of it.
  const PAGE = new Set(['/docs', '/docs/assets/init.js', '/docs/assets/:name', '/app', '/app/config.json', '/app/*rest', '/app/assets/:name']);
  const served = apiRouters(deps)
    .flatMap((router) => router.stack)
    .filter((layer) => layer.methods.length > 0 && !PAGE.has(String(layer.path)))
    .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`));
  const documented = Object.entries(contract.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
  assert.deepEqual([...new Set(served)].sort(), documented.sort());
});

test('every error is the one Problem component, its codes listed; every operation has an id, a success and its credential', () => {
  const ids = new Set<string>();
  for (const [path, operations] of Object.entries(contract.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const statuses = Object.keys(operation.responses);
      assert.ok(
        statuses.some((s) => s.startsWith('2')),
        `${method} ${path} has a success`,
      );
      assert.ok(operation.operationId && !ids.has(operation.operationId), `${method} ${path} has an operationId of its own`);
      ids.add(operation.operationId);
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        const response = operation.responses[status]!;
        // Readiness answers its own body when it is not ready, as load balancers expect.
        if (status === '503' && ['/readyz', '/healthz'].includes(path)) continue;
        assert.deepEqual(response.content?.['application/problem+json']?.schema, { $ref: '#/components/schemas/Problem' }, `${method} ${path} ${status}`);
        assert.ok((response[PROBLEM_CODES_EXTENSION] ?? []).length > 0, `${method} ${path} ${status} lists its codes`);
      }
      // Public: health, signed links, the document, and the sign-in whose credential is the link's token in its body.
      if (!['/healthz', '/livez', '/readyz', '/v1/downloads/{id}', '/openapi.json', '/v1/sign-in'].includes(path))
        assert.ok(statuses.includes('401'), `${method} ${path} says it needs a credential`);
    }
  }
  assert.deepEqual(Object.keys(contract.webhooks).sort(), [...EVENT_TYPES].sort());
});

test('every pattern in the document is a valid ECMA-262 regular expression that matches something', () => {
  const patterns: string[] = [];
  JSON.stringify(contract, (name, value: unknown) => {
    if (name === 'pattern' && typeof value === 'string') patterns.push(value);
    return value;
  });
  assert.ok(patterns.length > 20, `${patterns.length} patterns`);
  for (const pattern of patterns) {
    // The `u` flag is what JSON Schema means by ECMA-262; it refuses escapes a plain regex would let pass.
    assert.doesNotThrow(() => new RegExp(pattern, 'u'), pattern);
    assert.ok(!/\/[gimsuy]+$/.test(pattern), `${pattern} carries a JavaScript flag`);
  }
});

test('every problem code a route module throws itself is listed by one of its operations', () => {
  const deps = { config: loadConfig({}), delivery: { defaultRetrySchedule: [30], requestTimeoutSeconds: 10 }, metrics: {} } as unknown as ApiDependencies;
  const modules: Array<[string, Operation[]]> = [
    ['admin', adminOperations(deps)],
    ['api-keys', apiKeyOperations(deps)],
    ['assets', assetOperations(deps)],
    ['conversions', conversionOperations(deps)],
    ['events', eventOperations(deps)],
    ['jobs', jobOperations(deps)],
    ['presets', presetOperations(deps)],
    ['request-webhooks', requestWebhookOperations(deps)],
    ['webhook-deliveries', webhookDeliveryOperations(deps)],
    ['webhook-endpoints', webhookEndpointOperations(deps)],
  ];
  for (const [name, operations] of modules) {
    const source = readFileSync(path.join(projectRoot, 'src/api/routes', `${name}.ts`), 'utf8');
    const thrown = [...source.matchAll(/new ApiError\(\s*\d{3},\s*'([a-z_]+)'/g)].map((match) => match[1]!);
    const listed = new Set(operations.flatMap((op) => Object.values(problemsOf(op)).flat()));
    for (const code of thrown) assert.ok(listed.has(code), `routes/${name}.ts throws ${code}, which none of its operations lists`);
  }
});

test('every multipart form of the document fits in the fields one body may carry', () => {
  const schemas = (contract as unknown as { components: { schemas: Record<string, { properties?: object }> } }).components.schemas;
  let forms = 0;
  for (const operations of Object.values(contract.paths)) {
    for (const operation of Object.values(operations) as Array<{
      requestBody?: { content: Record<string, { schema: { $ref?: string; properties?: object } }> };
    }>) {
      const form = operation.requestBody?.content['multipart/form-data']?.schema;
      if (!form) continue;
      const resolved = form.$ref ? schemas[form.$ref.split('/').pop()!]! : form;
      assert.ok(Object.keys(resolved.properties ?? {}).length < MAX_FIELDS, `${Object.keys(resolved.properties ?? {}).length} fields`);
      forms++;
    }
  }
  assert.equal(forms, 3, 'conversions, jobs and assets take multipart');
});
