import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, uploadForm } from '../support/http.js';
import { assertNothingLeft } from '../support/leftovers.js';
import { makeImage } from '../support/images.js';

interface TextResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** The answer as bytes on the wire, so replays can be compared exactly. */
async function send(url: string, init: RequestInit & { key: string; idempotencyKey?: string }): Promise<TextResponse> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${init.key}`);
  if (init.idempotencyKey !== undefined) headers.set('idempotency-key', init.idempotencyKey);
  const response = await fetch(url, { ...init, headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const codeOf = (response: TextResponse): string => (JSON.parse(response.text) as { code: string }).code;

describe('Idempotency-Key on every creating POST', () => {
  let kiln: TestKiln;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };
  let photo: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded');
    alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
    bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
    photo = await makeImage(64, 48);
  });
  after(async () => kiln?.stop());

  const conversionsOf = async (accountId: string) =>
    (await kiln.database.db.selectFrom('conversions').select('id').where('account_id', '=', accountId).execute()).map((r) => r.id);
  const upload = (fields: Record<string, string>, idempotencyKey: string, key = alice.key) =>
    send(`${kiln.url}/v1/conversions`, { method: 'POST', key, idempotencyKey, body: uploadForm(photo, 'p.jpg', fields) });

  test('a repeated upload answers the first response byte for byte and starts nothing new', async () => {
    const before = (await conversionsOf(alice.id)).length;
    const first = await upload({ output_format: 'webp' }, 'upload-1');
    assert.equal(first.status, 202, first.text);
    const again = await upload({ output_format: 'webp' }, 'upload-1');
    assert.equal(again.status, 202);
    assert.equal(again.text, first.text, 'the same bytes');
    assert.equal(again.headers.get('location'), first.headers.get('location'));
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const id = (JSON.parse(first.text) as { id: string }).id;
    assert.deepEqual((await conversionsOf(alice.id)).length, before + 1, 'one conversion');
    // Workflow ids are conversion ids: one row is one workflow, and it ran.
    await kiln.env.client.workflow.getHandle(`conversion-${id}`).result();
    await assertNothingLeft(kiln);
  });

  test('the same key with another request answers 422 idempotency_key_reused', async () => {
    assert.equal((await upload({ output_format: 'png' }, 'upload-2')).status, 202);
    const count = (await conversionsOf(alice.id)).length;
    const other = await upload({ output_format: 'jpeg' }, 'upload-2');
    assert.equal(other.status, 422);
    assert.equal(codeOf(other), 'idempotency_key_reused');
    const otherFile = await send(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: alice.key,
      idempotencyKey: 'upload-2',
      body: uploadForm(await makeImage(10, 10), 'p.jpg', { output_format: 'png' }),
    });
    assert.equal(codeOf(otherFile), 'idempotency_key_reused', 'another file is another request');
    assert.equal((await conversionsOf(alice.id)).length, count);
    await assertNothingLeft(kiln);
  });

  test('concurrent requests with one key never both run', async () => {
    const count = (await conversionsOf(alice.id)).length;
    const answers = await Promise.all(Array.from({ length: 4 }, () => upload({ output_format: 'avif' }, 'upload-race')));
    const statuses = answers.map((a) => a.status);
    assert.ok(
      statuses.every((s) => s === 202 || s === 409),
      statuses.join(','),
    );
    for (const answer of answers.filter((a) => a.status === 409)) assert.equal(codeOf(answer), 'idempotency_key_in_flight');
    const accepted = new Set(answers.filter((a) => a.status === 202).map((a) => a.text));
    assert.equal(accepted.size, 1, 'every 202 is the same answer');
    assert.equal((await conversionsOf(alice.id)).length, count + 1, 'one conversion');
    await assertNothingLeft(kiln);
  });

  test('JSON routes and actions replay too; a failed request frees its key', async () => {
    const invalid = await send(`${kiln.url}/v1/webhooks/endpoints`, { key: alice.key, idempotencyKey: 'ep-1', ...json({ url: 'not a url' }) });
    assert.equal(invalid.status, 400);
    const created = await send(`${kiln.url}/v1/webhooks/endpoints`, { key: alice.key, idempotencyKey: 'ep-1', ...json({ url: 'https://example.com/hook' }) });
    assert.equal(created.status, 201, 'the failed attempt left the key free');
    const replayed = await send(`${kiln.url}/v1/webhooks/endpoints`, { key: alice.key, idempotencyKey: 'ep-1', ...json({ url: 'https://example.com/hook' }) });
    assert.equal(replayed.text, created.text);
    const endpoints = await kiln.database.db.selectFrom('webhook_endpoints').select('id').where('account_id', '=', alice.id).execute();
    assert.equal(endpoints.length, 1);
    const endpointId = (JSON.parse(created.text) as { id: string }).id;

    const rotated = await send(`${kiln.url}/v1/webhooks/endpoints/${endpointId}/rotate-secret`, { method: 'POST', key: alice.key, idempotencyKey: 'rotate-1' });
    const rotatedAgain = await send(`${kiln.url}/v1/webhooks/endpoints/${endpointId}/rotate-secret`, {
      method: 'POST',
      key: alice.key,
      idempotencyKey: 'rotate-1',
    });
    assert.equal(rotatedAgain.text, rotated.text);
    const secret = await send(`${kiln.url}/v1/webhooks/endpoints/${endpointId}/secret`, { key: alice.key });
    assert.equal((JSON.parse(secret.text) as { secret: string }).secret, (JSON.parse(rotated.text) as { secret: string }).secret, 'rotated once');
    // A key names one request: the same key on another path is another request.
    const elsewhere = await send(`${kiln.url}/v1/webhooks/secret/rotate`, { method: 'POST', key: alice.key, idempotencyKey: 'rotate-1' });
    assert.equal(codeOf(elsewhere), 'idempotency_key_reused');
  });

  test('keys are scoped by account, expire, and must be printable', async () => {
    assert.equal((await upload({ output_format: 'gif' }, 'shared-key')).status, 202);
    const bobs = await upload({ output_format: 'tiff' }, 'shared-key', bob.key);
    assert.equal(bobs.status, 202, "bob's key space is his own");
    assert.equal(bobs.headers.get('idempotent-replayed'), null);

    await kiln.database.db
      .updateTable('idempotency_keys')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('key', '=', 'shared-key')
      .execute();
    const afterExpiry = await upload({ output_format: 'jpeg' }, 'shared-key');
    assert.equal(afterExpiry.status, 202, 'an expired key is a new key');
    assert.equal(afterExpiry.headers.get('idempotent-replayed'), null);

    // A blank header is a key sent wrong, not no key: refused like any other malformed one.
    for (const bad of ['x'.repeat(256), 'tab\there', ' ']) {
      const response = await send(`${kiln.url}/v1/webhooks/secret/rotate`, { method: 'POST', key: alice.key, idempotencyKey: bad });
      assertProblem({ status: response.status, headers: response.headers, body: JSON.parse(response.text) }, 400, 'invalid_idempotency_key');
    }
    const apiKey = await send(`${kiln.url}/v1/api-keys`, { key: alice.key, idempotencyKey: 'k-1', ...json({ name: 'x' }) });
    assert.equal(codeOf(apiKey), 'idempotency_not_supported');
    await assertNothingLeft(kiln);
  });
});
