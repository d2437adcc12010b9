import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount } from '../support/http.js';
import { multipartBody, postHead, rawRequest } from '../support/raw-http.js';
import { assertNothingLeft } from '../support/leftovers.js';
import { checkAgainstContract } from '../support/contract.js';
import { makeImage } from '../support/images.js';

/**
 * Property: whatever a client with a valid key sends, Kiln answers below 500 with an
 * answer the OpenAPI document lists, nothing escapes uncaught, and no upload or blob is left without its row. Requests are generated
 * over every route with hostile ids, query strings, JSON, multipart (cut anywhere) and raw
 * bodies, for a bounded time. A case that ever fails here goes into hostile.test.ts as a
 * fixed regression test; the seed is printed by fast-check to replay it.
 */

const ROUTES: Array<[string, string]> = [
  ['GET', '/v1/conversions'],
  ['POST', '/v1/conversions'],
  ['GET', '/v1/conversions/{id}'],
  ['POST', '/v1/conversions/{id}/cancel'],
  ['GET', '/v1/conversions/{id}/events'],
  ['POST', '/v1/jobs'],
  ['GET', '/v1/jobs'],
  ['GET', '/v1/jobs/{id}'],
  ['GET', '/v1/jobs/{id}/conversions'],
  ['POST', '/v1/jobs/{id}/cancel'],
  ['GET', '/v1/jobs/{id}/archive'],
  ['GET', '/v1/jobs/{id}/events'],
  ['GET', '/v1/downloads/{id}'],
  ['GET', '/v1/events'],
  ['GET', '/v1/events/{id}'],
  ['GET', '/v1/webhooks/event-types'],
  ['POST', '/v1/assets'],
  ['GET', '/v1/assets'],
  ['GET', '/v1/assets/{id}'],
  ['DELETE', '/v1/assets/{id}'],
  ['POST', '/v1/presets'],
  ['GET', '/v1/presets'],
  ['GET', '/v1/presets/{name}'],
  ['PUT', '/v1/presets/{name}'],
  ['DELETE', '/v1/presets/{name}'],
  ['GET', '/v1/webhooks/secret'],
  ['POST', '/v1/webhooks/endpoints'],
  ['GET', '/v1/webhooks/endpoints'],
  ['GET', '/v1/webhooks/endpoints/{id}'],
  ['PATCH', '/v1/webhooks/endpoints/{id}'],
  ['DELETE', '/v1/webhooks/endpoints/{id}'],
  ['GET', '/v1/webhooks/endpoints/{id}/secret'],
  ['POST', '/v1/webhooks/endpoints/{id}/rotate-secret'],
  ['POST', '/v1/webhooks/endpoints/{id}/test'],
  ['POST', '/v1/webhooks/endpoints/{id}/preview'],
  ['GET', '/v1/webhooks/settings'],
  ['PATCH', '/v1/webhooks/settings'],
  ['POST', '/v1/webhooks/settings/preview'],
  ['GET', '/v1/webhooks/deliveries'],
  ['GET', '/v1/webhooks/deliveries/{id}'],
  ['POST', '/v1/webhooks/deliveries/{id}/retry'],
  ['POST', '/v1/webhooks/deliveries/{id}/cancel'],
  ['POST', '/v1/webhooks/recover'],
  ['POST', '/v1/admin/accounts'],
];

const PARAMS = [
  'limit',
  'cursor',
  'status',
  'type',
  'subject_id',
  'endpoint_id',
  'event_id',
  'event_type',
  'output_format',
  'width',
  'height',
  'quality',
  'fit',
  'filename',
  'tag',
  'webhook_url',
  'webhook_metadata',
  'expires',
  'signature',
  'concurrency',
  'inputs',
  'last_event_id',
  'preset',
  'crop',
  'rotate',
  'max_bytes',
  'enlarge',
  'watermark',
  'outputs',
  'source_url',
];

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '\u0000',
    'cnv_0000000000000000000000000',
    'job_0000000000000000000000000',
    'evt_0000000000000000000000000',
    'ep_0000000000000000000000000',
    '../../etc/passwd',
    '%00',
    '写真',
    '__proto__',
    'constructor',
    '1e309',
    '-1',
    '99999999999999999999',
    'png',
    'webp',
    'https://127.0.0.1/',
    'http://[64:ff9b::127.0.0.1]/',
  ),
  fc.string({ minLength: 500, maxLength: 3000 }),
);

const fieldValue = fc.oneof(hostileText, fc.json({ maxDepth: 4 }), fc.constantFrom('{"a":"\\u0000"}', `${'['.repeat(2000)}${']'.repeat(2000)}`));

const jsonBody = fc.oneof(
  fc.json({ maxDepth: 6 }),
  fc
    .record(
      {
        url: fc.oneof(hostileText, fc.webUrl()),
        description: hostileText,
        event_types: fc.array(hostileText, { maxLength: 3 }),
        tags: fc.array(hostileText, { maxLength: 3 }),
        retry_schedule: fc.oneof(fc.constant(null), fc.array(hostileText, { maxLength: 3 })),
        enabled: fc.oneof(fc.boolean(), hostileText),
        headers: fc.oneof(fc.dictionary(hostileText, hostileText, { maxKeys: 3 }), hostileText),
        secret: hostileText,
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  // Presets: names and options, valid and not.
  fc
    .record(
      {
        name: fc.oneof(fc.constantFrom('avatar', 'hero', 'a'.repeat(65)), hostileText),
        options: fc.oneof(
          fc.dictionary(
            fc.oneof(fc.constantFrom('output_format', 'width', 'crop', 'max_bytes'), hostileText),
            fc.oneof(hostileText, fc.integer(), fc.boolean()),
            { maxKeys: 4 },
          ),
          hostileText,
        ),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  // Receiver formats: extra signature headers, templates (valid, broken, hostile), previews.
  fc
    .record(
      {
        signature: fc.oneof(
          fc.constant(null),
          hostileText,
          fc.record(
            {
              header: fc.oneof(fc.constantFrom('X-Sig', 'webhook-signature', 'x-kiln-signature'), hostileText),
              algorithm: fc.oneof(fc.constantFrom('sha256', 'sha512', 'md5'), hostileText),
              signed_content: fc.oneof(fc.constantFrom('body', 'timestamp.body'), hostileText),
              encoding: fc.oneof(fc.constantFrom('hex', 'base64'), hostileText),
              prefix: hostileText,
              form: fc.oneof(fc.constantFrom('plain', 'timestamped'), hostileText),
              timestamp_header: fc.oneof(fc.constant(null), hostileText),
            },
            { requiredKeys: [] },
          ),
        ),
        template: fc.oneof(
          fc.constant(null),
          hostileText,
          fc.constantFrom('{"event": type, "data": data}', '$string(', 'data.nope', '($f := function($x){ $f($x) }; $f(1))', '[1..10000000]'),
        ),
        event_type: fc.oneof(fc.constantFrom('webhook.test', 'job.failed'), hostileText),
        event_id: hostileText,
        headers: fc.oneof(fc.dictionary(hostileText, hostileText, { maxKeys: 3 }), hostileText),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.record({ endpoint_id: hostileText, since: hostileText, name: hostileText }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  // Job requests: shared options, inputs naming sources (mostly nothing real), per-input options.
  fc
    .record(
      {
        output_format: fc.oneof(fc.constantFrom('png', 'webp'), hostileText),
        width: fc.oneof(fc.integer(), hostileText),
        concurrency: fc.oneof(fc.integer(), hostileText),
        inputs: fc.oneof(
          fc.array(
            fc.record(
              { conversion_id: hostileText, filename: hostileText, options: fc.oneof(fc.json({ maxDepth: 2 }), fc.dictionary(hostileText, hostileText)) },
              { requiredKeys: [] },
            ),
            { maxLength: 4 },
          ),
          hostileText,
        ),
        webhook_metadata: fc.json({ maxDepth: 3 }),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

describe('fuzzing the HTTP surface (fast-check, bounded time)', () => {
  let kiln: TestKiln;
  let key: string;
  let png: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded', {
      // Every generated request must reach its handler, not the rate limit (test/api/account-limits.test.ts tests that).
      KILN_RATE_LIMIT_WORK: 'off',
      KILN_RATE_LIMIT_WEBHOOKS: 'off',
    });
    key = (await createAccount(kiln.url, kiln.adminToken, 'fuzz')).key;
    png = await makeImage(16, 16, 'png');
  });
  after(async () => kiln?.stop());

  test('no generated request gets a 5xx, crashes Kiln or leaves anything behind', async () => {
    const part = fc.record({
      name: fc.oneof(fc.constantFrom('file', 'output_format', 'width', 'webhook_metadata', 'tag', 'inputs', 'concurrency', '__proto__'), hostileText),
      filename: fc.option(hostileText, { nil: undefined }),
      value: fc.oneof(
        fieldValue.map((v) => Buffer.from(v)),
        fc.constant(null).map(() => png),
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      ),
    });
    const body = fc.oneof(
      fc.record({ kind: fc.constant('none' as const) }),
      fc.record({ kind: fc.constant('json' as const), text: jsonBody }),
      fc.record({ kind: fc.constant('multipart' as const), parts: fc.array(part, { maxLength: 5 }), cut: fc.option(fc.nat(), { nil: undefined }) }),
      fc.record({
        kind: fc.constant('raw' as const),
        bytes: fc.oneof(
          fc.uint8Array({ maxLength: 500 }).map((a) => Buffer.from(a)),
          fc.constant(null).map(() => png),
        ),
        contentType: fc.constantFrom('image/png', 'application/octet-stream', 'text/plain', 'multipart/form-data', 'application/json; charset=utf-7'),
      }),
    );
    const requestArb = fc.record({
      route: fc.constantFrom(...ROUTES),
      id: hostileText,
      query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), hostileText), fieldValue), { maxLength: 4 }),
      body,
      admin: fc.boolean(),
    });

    // CI replays one fixed sequence, so a landing is never decided by a lucky draw; anywhere
    // else each run draws anew and finds what CI's sequence does not (KILN_FUZZ_SEED replays one).
    // A drawn seed is chosen here rather than by fast-check, so the leftovers check below can name it too.
    const seed = process.env.KILN_FUZZ_SEED ? Number(process.env.KILN_FUZZ_SEED) : process.env.CI ? 20261202 : Math.floor(Math.random() * 2 ** 31);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(requestArb, async ({ route: [method, template], id, query, body: spec, admin }) => {
        const path = template.replace('{id}', encodeURIComponent(id)).replace('{name}', encodeURIComponent(id));
        const search = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const headers: Record<string, string> = { Authorization: `Bearer ${admin && template.startsWith('/v1/admin') ? kiln.adminToken : key}` };
        let bytes: Buffer = Buffer.alloc(0);
        if (spec.kind === 'json') {
          headers['Content-Type'] = 'application/json';
          bytes = Buffer.from(spec.text);
        } else if (spec.kind === 'multipart') {
          headers['Content-Type'] = 'multipart/form-data; boundary=fuzzBOUNDARY';
          const whole = multipartBody('fuzzBOUNDARY', spec.parts);
          bytes = spec.cut === undefined ? whole : whole.subarray(0, spec.cut % (whole.length + 1));
        } else if (spec.kind === 'raw') {
          headers['Content-Type'] = spec.contentType;
          bytes = spec.bytes;
        }
        const head = postHead(`${path}${search ? `?${search}` : ''}`, headers, bytes.length).replace(/^POST /, `${method} `);
        const response = await rawRequest(kiln.url, head, bytes);
        sent++;
        assert.ok(response.status < 500, `${method} ${path}?${search.slice(0, 200)} → ${response.status} ${response.body.slice(0, 300)}`);
        const contentType = response.headers['content-type'] ?? '';
        checkAgainstContract(
          method,
          `${kiln.url}${path}`,
          response.status,
          contentType,
          contentType.includes('json') ? JSON.parse(response.body) : response.body,
        );
      }),
      {
        numRuns: Number(process.env.KILN_FUZZ_RUNS ?? 5000),
        interruptAfterTimeLimit: Number(process.env.KILN_FUZZ_SECONDS ?? 25) * 1000,
        seed,
      },
    );
    console.log(`fuzz: ${sent} requests with seed ${seed} (KILN_FUZZ_SEED replays it), none answered 5xx`);
    assert.ok(sent > 100, 'enough requests ran to mean something');
    await assertNothingLeft(kiln);
  });
});
