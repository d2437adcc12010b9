import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request } from '../support/http.js';

describe('API keys an account manages itself', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };

  before(async () => {
    kiln = await startTestKiln('embedded');
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
    bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
  });
  after(async () => kiln?.stop());

  test('create shows the key once; lists show name, prefix and use, never the key', async () => {
    const created = await jsonRequest(`${kiln.url}/v1/api-keys`, alice.key, 'POST', { name: 'ci deploys' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.key, /^kiln_[0-9a-z]{40}$/);
    assert.equal(created.body.prefix, created.body.key.slice(0, 12));
    assert.equal(created.headers.get('location'), `/v1/api-keys/${created.body.id}`);
    assert.equal(created.body.last_used_at, null);

    // The new key works, and its use is recorded.
    assert.equal((await request(`${kiln.url}/v1/conversions`, { key: created.body.key })).status, 200);
    const list = await request(`${kiln.url}/v1/api-keys`, { key: alice.key });
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.data.map((k: { name: string }) => k.name),
      ['ci deploys', 'default'],
    );
    const listed = list.body.data[0];
    assert.deepEqual(Object.keys(listed).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'object', 'prefix']);
    assert.equal(listed.expires_at, null, 'a key made here never expires');
    assert.ok(Date.parse(listed.last_used_at) <= Date.now() && Date.now() - Date.parse(listed.last_used_at) < 60_000);
    assert.ok(!JSON.stringify(list.body).includes(created.body.key), 'no secret in a list');
    assert.equal(list.body.data[1].last_used_at !== null, true, 'the key that listed them was used too');
  });

  test('a revoked key answers 401 at once; another account cannot revoke it', async () => {
    const created = await jsonRequest(`${kiln.url}/v1/api-keys`, alice.key, 'POST', { name: 'short-lived' });
    assert.equal((await request(`${kiln.url}/v1/conversions`, { key: created.body.key })).status, 200);
    assertProblem(await request(`${kiln.url}/v1/api-keys/${created.body.id}`, { method: 'DELETE', key: bob.key }), 404, 'api_key_not_found');
    assert.equal((await request(`${kiln.url}/v1/conversions`, { key: created.body.key })).status, 200, "bob's attempt changed nothing");
    const revoked = await request(`${kiln.url}/v1/api-keys/${created.body.id}`, { method: 'DELETE', key: alice.key });
    assert.equal(revoked.status, 204);
    assertProblem(await request(`${kiln.url}/v1/conversions`, { key: created.body.key }), 401, 'invalid_api_key');
    assertProblem(await request(`${kiln.url}/v1/api-keys/${created.body.id}`, { method: 'DELETE', key: alice.key }), 404, 'api_key_not_found');
    const names = (await request(`${kiln.url}/v1/api-keys`, { key: alice.key })).body.data.map((k: { name: string }) => k.name);
    assert.ok(!names.includes('short-lived'), 'revoked keys leave the list');
  });

  test('bad names and ids answer 4xx', async () => {
    for (const body of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 5 }, { name: 'ok', extra: 1 }]) {
      assertProblem(await jsonRequest(`${kiln.url}/v1/api-keys`, alice.key, 'POST', body), 400, 'invalid_body');
    }
    assertProblem(await request(`${kiln.url}/v1/api-keys/not-an-id`, { method: 'DELETE', key: alice.key }), 404, 'api_key_not_found');
    assertProblem(await request(`${kiln.url}/v1/api-keys`), 401, 'unauthorized');
  });
});
