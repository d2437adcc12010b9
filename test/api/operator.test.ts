import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';

describe('sign-in links and the operator’s routes', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string };

  before(async () => {
    kiln = await startTestKiln('embedded', { KILN_TEMPORAL_UI_URL: 'http://127.0.0.1:8233' });
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
  });
  after(async () => kiln?.stop());

  const tokenOf = (url: string): string => new URL(url).hash.replace(/^#token=/, '');
  const redeem = (token: string, headers: Record<string, string> = {}) =>
    request(`${kiln.url}/v1/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token }) });

  test('a link made by a key holder signs a browser in once, with a key that expires by itself', async () => {
    const made = await jsonRequest(`${kiln.url}/v1/sign-in-links`, alice.key, 'POST');
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const url = new URL(made.body.url);
    assert.equal(`${url.origin}${url.pathname}`, `${kiln.url}/app/sign-in`);
    assert.equal(url.search, '', 'the token is in the fragment, which no server sees');
    const ttl = Date.parse(made.body.expires_at) - Date.now();
    assert.ok(ttl > 14 * 60_000 && ttl <= 15 * 60_000 + 5000, `15 minutes by default, got ${ttl} ms`);

    const session = await redeem(tokenOf(made.body.url));
    assert.equal(session.status, 201, JSON.stringify(session.body));
    assert.deepEqual(session.body.account, { id: alice.id, name: 'alice' });
    const lifetime = Date.parse(session.body.api_key.expires_at) - Date.now();
    assert.ok(lifetime > 11.9 * 3600_000 && lifetime <= 12 * 3600_000 + 5000, `12 hours by default, got ${lifetime} ms`);
    assert.equal((await request(`${kiln.url}/v1/usage`, { key: session.body.api_key.key })).status, 200, 'the session key works');
    const keys = (await request(`${kiln.url}/v1/api-keys`, { key: alice.key })).body.data;
    assert.equal(keys.find((k: { id: string }) => k.id === session.body.api_key.id)?.expires_at, session.body.api_key.expires_at);

    assertProblem(await redeem(tokenOf(made.body.url)), 410, 'sign_in_link_used');
    assertProblem(await redeem('kiln_signin_nothing'), 404, 'sign_in_link_not_found');
    assertProblem(
      await request(`${kiln.url}/v1/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
      400,
      'invalid_body',
    );

    // Its time up, the session key says so (and leaves the list of live keys).
    await kiln.database.db
      .updateTable('api_keys')
      .set({ expires_at: sql`now() - interval '1 second'` })
      .where('id', '=', session.body.api_key.id)
      .execute();
    assertProblem(await request(`${kiln.url}/v1/usage`, { key: session.body.api_key.key }), 401, 'api_key_expired');
    const live = (await request(`${kiln.url}/v1/api-keys`, { key: alice.key })).body.data.map((k: { id: string }) => k.id);
    assert.ok(!live.includes(session.body.api_key.id));
  });

  test('an expired link is refused; a lifetime can be asked for within bounds; no replay by Idempotency-Key', async () => {
    const short = await jsonRequest(`${kiln.url}/v1/sign-in-links`, alice.key, 'POST', { expires_in_seconds: 60 });
    assert.equal(short.status, 201);
    const ttl = Date.parse(short.body.expires_at) - Date.now();
    assert.ok(ttl > 55_000 && ttl <= 65_000, `${ttl} ms`);
    await kiln.database.db
      .updateTable('sign_in_links')
      .set({ expires_at: sql`now() - interval '1 second'` })
      .where('account_id', '=', alice.id)
      .where('used_at', 'is', null)
      .execute();
    assertProblem(await redeem(tokenOf(short.body.url)), 410, 'sign_in_link_expired');
    for (const body of [{ expires_in_seconds: 59 }, { expires_in_seconds: 15 * 60 + 1 }, { expires_in_seconds: 'soon' }, { other: 1 }, null, []]) {
      assertProblem(await jsonRequest(`${kiln.url}/v1/sign-in-links`, alice.key, 'POST', body), 400, 'invalid_body');
    }
    assertProblem(
      await request(`${kiln.url}/v1/sign-in-links`, { method: 'POST', key: alice.key, headers: { 'idempotency-key': 'once' } }),
      400,
      'idempotency_not_supported',
    );
  });

  test('two tabs opening one link at once get one session between them', async () => {
    const made = await jsonRequest(`${kiln.url}/v1/sign-in-links`, alice.key, 'POST');
    const answers = await Promise.all([redeem(tokenOf(made.body.url)), redeem(tokenOf(made.body.url)), redeem(tokenOf(made.body.url))]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 410, 410]);
  });

  test('the operator makes a link for any account; an API key cannot', async () => {
    const made = await jsonRequest(`${kiln.url}/v1/admin/accounts/${alice.id}/sign-in-links`, kiln.adminToken, 'POST', { expires_in_seconds: 300 });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.account_id, alice.id);
    assert.equal((await redeem(tokenOf(made.body.url))).body.account.id, alice.id);
    assertProblem(await jsonRequest(`${kiln.url}/v1/admin/accounts/${alice.id}/sign-in-links`, alice.key, 'POST'), 401, 'invalid_admin_token');
    assertProblem(
      await jsonRequest(`${kiln.url}/v1/admin/accounts/acc_00000000000000000000000/sign-in-links`, kiln.adminToken, 'POST'),
      404,
      'account_not_found',
    );
  });

  test('accounts listed with their counts; one with its usage and limits; keys given and revoked', async () => {
    const bob = await createAccount(kiln.url, kiln.adminToken, 'bob-operator');
    const endpoint = await jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, bob.key, 'POST', { url: 'https://hooks.example.com/bob' });
    assert.equal(endpoint.status, 201);
    const listed = await request(`${kiln.url}/v1/admin/accounts?limit=100`, { key: kiln.adminToken });
    assert.equal(listed.status, 200);
    const row = listed.body.data.find((a: { id: string }) => a.id === bob.id);
    assert.deepEqual(
      { ...row, created_at: undefined },
      {
        id: bob.id,
        object: 'account',
        name: 'bob-operator',
        created_at: undefined,
        conversions_active: 0,
        endpoints: 1,
        api_keys: 1,
      },
    );
    assert.ok(
      listed.body.data.findIndex((a: { id: string }) => a.id === bob.id) < listed.body.data.findIndex((a: { id: string }) => a.id === alice.id),
      'newest first',
    );

    const limited = await jsonRequest(`${kiln.url}/v1/admin/accounts/${bob.id}/limits`, kiln.adminToken, 'PUT', { endpoints: 3 });
    assert.equal(limited.status, 200);
    const one = await request(`${kiln.url}/v1/admin/accounts/${bob.id}`, { key: kiln.adminToken });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.usage.quotas.endpoints, { used: 1, limit: 3, resets_at: null });
    assert.equal(one.body.limits.own.endpoints, 3);

    const given = await jsonRequest(`${kiln.url}/v1/admin/accounts/${bob.id}/api-keys`, kiln.adminToken, 'POST', { name: 'from the operator' });
    assert.equal(given.status, 201);
    assert.equal((await request(`${kiln.url}/v1/usage`, { key: given.body.key })).status, 200);
    const keys = await request(`${kiln.url}/v1/admin/accounts/${bob.id}/api-keys`, { key: kiln.adminToken });
    assert.deepEqual(
      keys.body.data.map((k: { name: string }) => k.name),
      ['from the operator', 'default'],
    );
    assert.ok(!JSON.stringify(keys.body).includes(given.body.key));
    assert.equal((await request(`${kiln.url}/v1/admin/api-keys/${given.body.id}`, { method: 'DELETE', key: kiln.adminToken })).status, 204);
    assertProblem(await request(`${kiln.url}/v1/usage`, { key: given.body.key }), 401, 'invalid_api_key');
    assertProblem(await request(`${kiln.url}/v1/admin/api-keys/${given.body.id}`, { method: 'DELETE', key: kiln.adminToken }), 404, 'api_key_not_found');
    assertProblem(await request(`${kiln.url}/v1/admin/accounts/acc_00000000000000000000000`, { key: kiln.adminToken }), 404, 'account_not_found');
    assertProblem(await request(`${kiln.url}/v1/admin/accounts`, { key: bob.key }), 401, 'invalid_admin_token');
  });

  test('the status names each part, the workers polling each task queue, work in flight and where to look further', async () => {
    const status = await request(`${kiln.url}/v1/admin/status`, { key: kiln.adminToken });
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.deepEqual([status.body.postgres, status.body.temporal], [{ ok: true }, { ok: true }]);
    assert.deepEqual(
      status.body.task_queues.map((q: { name: string; kind: string }) => `${q.kind} ${q.name}`),
      ['workflow kiln', 'activity kiln', 'activity kiln-convert', 'activity kiln-convert-jobs', 'activity kiln-deliver'],
    );
    // This process's worker polls every one of them.
    for (const queue of status.body.task_queues) assert.ok(queue.pollers.length > 0, `${queue.kind} ${queue.name} has no poller`);
    assert.deepEqual(Object.keys(status.body.work).sort(), ['conversions_queued', 'conversions_running', 'deliveries_pending', 'jobs_running']);
    assert.deepEqual(status.body.links, { temporal_ui: 'http://127.0.0.1:8233', temporal_namespace: 'default', metrics: `${kiln.url}/metrics` });

    // With the workers stopped, a conversion waits in Kiln's table, and its workflow task in the backlog Temporal reports.
    await kiln.stopWorkers();
    try {
      const accepted = await request(`${kiln.url}/v1/conversions`, {
        method: 'POST',
        key: alice.key,
        body: uploadForm(await makeImage(8, 8), 'a.jpg', { output_format: 'webp' }),
      });
      assert.equal(accepted.status, 202);
      let seen: any;
      await waitUntil(
        async () => {
          seen = (await request(`${kiln.url}/v1/admin/status`, { key: kiln.adminToken })).body;
          return seen.work.conversions_queued >= 1 && seen.task_queues[0].backlog >= 1;
        },
        30_000,
        'the waiting conversion in the counts and the backlog',
        250,
      );
      assert.ok(seen.task_queues[0].backlog_age_seconds >= 0);
    } finally {
      await kiln.startWorkers();
    }
  });
});
