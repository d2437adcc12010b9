import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { connectPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { startApiRole, type ApiRole } from '../../src/roles/api.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm, type JsonResponse } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';

type TestAccount = { id: string; key: string };

/** The RateLimit fields of an answer, parsed. */
function rateFields(response: JsonResponse): { policy: string; q: number; w: number; r: number; t: number } {
  const policy = /^"(\w+)";q=(\d+);w=(\d+)$/.exec(response.headers.get('ratelimit-policy') ?? '');
  const left = /^"(\w+)";r=(\d+);t=(\d+)$/.exec(response.headers.get('ratelimit') ?? '');
  assert.ok(policy && left, `RateLimit headers on ${response.status}: ${response.headers.get('ratelimit-policy')} / ${response.headers.get('ratelimit')}`);
  assert.equal(policy[1], left[1]);
  return { policy: policy[1]!, q: Number(policy[2]), w: Number(policy[3]), r: Number(left[2]), t: Number(left[3]) };
}

describe('rate limits, quotas and backpressure (embedded Postgres, workers stopped so work stays queued)', () => {
  let kiln: TestKiln;
  let image: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_RATE_LIMIT_WORK: '1000/1m',
      KILN_OVERLOAD_MIN_QUEUED: '12',
      KILN_OVERLOAD_DRAIN_SECONDS: '1s',
    });
    await kiln.stopWorkers();
    image = await makeImage(64, 48, 'png');
  });
  after(async () => kiln?.stop());

  const upload = (account: TestAccount, fields: Record<string, string> = { output_format: 'webp' }) =>
    request(`${kiln.url}/v1/conversions`, { method: 'POST', key: account.key, body: uploadForm(image, 'in.png', fields) });

  const setLimits = async (account: TestAccount, limits: Record<string, number | null>) => {
    const response = await jsonRequest(`${kiln.url}/v1/admin/accounts/${account.id}/limits`, kiln.adminToken, 'PUT', limits);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  const usage = async (account: TestAccount) => {
    const response = await request(`${kiln.url}/v1/usage`, { key: account.key });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  const cancel = (account: TestAccount, id: string) => request(`${kiln.url}/v1/conversions/${id}/cancel`, { method: 'POST', key: account.key });

  test('a rate: every answer carries RateLimit headers, past it 429 rate_limited with Retry-After; other accounts are untouched', async () => {
    const flood = await createAccount(kiln.url, kiln.adminToken, 'rate-flood');
    const other = await createAccount(kiln.url, kiln.adminToken, 'rate-other');
    const own = await setLimits(flood, { rate_work: 4 });
    assert.equal(own.effective.rate_work, 4);

    const answers: JsonResponse[] = [];
    // A refused body counts as much as an accepted one: the limit is on requests.
    for (const fields of [{ output_format: 'webp' }, { output_format: 'nope' }, { output_format: 'webp' }, { output_format: 'webp' }])
      answers.push(await upload(flood, fields));
    assert.deepEqual(
      answers.map((a) => a.status),
      [202, 400, 202, 202],
    );
    assert.deepEqual(
      answers.map((a) => rateFields(a).r),
      [3, 2, 1, 0],
    );
    for (const answer of answers) assert.deepEqual({ ...rateFields(answer), r: 0, t: 0 }, { policy: 'work', q: 4, w: 60, r: 0, t: 0 });

    const refused = await upload(flood);
    assertProblem(refused, 429, 'rate_limited');
    assert.equal(refused.body.policy, 'work');
    assert.equal(refused.body.limit, 4);
    const retryAfter = Number(refused.headers.get('retry-after'));
    // One request's interval is 15 s; the four taken in a burst leave about that long before the next passes.
    assert.ok(retryAfter >= 1 && retryAfter <= 15, `Retry-After ${retryAfter}`);
    assert.equal(rateFields(refused).r, 0);

    const elsewhere = await upload(other);
    assert.equal(elsewhere.status, 202);
    assert.equal(rateFields(elsewhere).q, 1000);
    assert.equal(rateFields(elsewhere).r, 999);

    const seen = await usage(flood);
    assert.equal(seen.rates.work.limit, 4);
    assert.equal(seen.rates.work.remaining, 0);
    // Lifting the account's own rate applies to its next request.
    await setLimits(flood, { rate_work: null });
    const lifted = await upload(flood);
    assert.equal(lifted.status, 202);
    assert.equal(lifted.headers.get('ratelimit'), null);
    assert.equal((await usage(flood)).rates.work, null);
  });

  test('conversions_active: exact under concurrent uploads, freed when work ends; usage counts the same', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'quota-active');
    await setLimits(account, { conversions_active: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => upload(account)));
    const accepted = answers.filter((a) => a.status === 202);
    assert.equal(accepted.length, 3, answers.map((a) => a.status).join(','));
    for (const refused of answers.filter((a) => a.status !== 202)) {
      assertProblem(refused, 429, 'quota_exceeded');
      assert.deepEqual(
        { quota: refused.body.quota, limit: refused.body.limit, used: refused.body.used, resets_at: refused.body.resets_at },
        {
          quota: 'conversions_active',
          limit: 3,
          used: 3,
          resets_at: null,
        },
      );
    }
    assert.deepEqual((await usage(account)).quotas.conversions_active, { used: 3, limit: 3, resets_at: null });

    // A job is counted by its files.
    const form = new FormData();
    form.set('output_format', 'webp');
    form.append('file', new Blob([image]), 'a.png');
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form });
    assertProblem(job, 429, 'quota_exceeded');

    assert.equal((await cancel(account, accepted[0]!.body.id)).status, 202);
    await waitUntil(async () => (await usage(account)).quotas.conversions_active.used === 2, 30_000, 'the cancelled conversion to end');
    assert.equal((await upload(account)).status, 202);
    assertProblem(await upload(account), 429, 'quota_exceeded');
  });

  test('conversions_per_day names its reset (the next UTC midnight) and Retry-After', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'quota-daily');
    await setLimits(account, { conversions_per_day: 2 });
    const first = await upload(account);
    assert.equal(first.status, 202);
    // Ended work still counts against the day.
    await cancel(account, first.body.id);
    assert.equal((await upload(account)).status, 202);
    const refused = await upload(account);
    assertProblem(refused, 429, 'quota_exceeded');
    const midnight = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 + 86_400_000).toISOString();
    assert.equal(refused.body.quota, 'conversions_per_day');
    assert.equal(refused.body.resets_at, midnight);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Math.abs(retryAfter - (Date.parse(midnight) - Date.now()) / 1000) < 60, `Retry-After ${retryAfter}`);
    assert.deepEqual((await usage(account)).quotas.conversions_per_day, { used: 2, limit: 2, resets_at: midnight });
    // The operator raises it: the next request passes.
    await setLimits(account, { conversions_per_day: 3 });
    assert.equal((await upload(account)).status, 202);
  });

  test('stored_bytes counts originals exactly; endpoints and job_files are bounded per account', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'quota-bytes');
    await setLimits(account, { stored_bytes: 2 * image.length + 10, endpoints: 1, job_files: 2 });
    // First, while this file's earlier tests leave the queue under the backpressure bound (the last test's subject).
    const form = new FormData();
    form.set('output_format', 'webp');
    for (const name of ['a.png', 'b.png', 'c.png']) form.append('file', new Blob([image]), name);
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form });
    assertProblem(job, 400, 'too_many_files');
    assert.equal(job.body.limit, 2);
    assert.equal((await usage(account)).quotas.job_files.limit, 2);

    assert.equal((await upload(account)).status, 202);
    assert.equal((await upload(account)).status, 202);
    assert.equal((await usage(account)).quotas.stored_bytes.used, 2 * image.length);
    const refused = await upload(account);
    assertProblem(refused, 429, 'quota_exceeded');
    assert.equal(refused.body.quota, 'stored_bytes');
    assert.equal(refused.body.used, 2 * image.length);

    const endpoint = (url: string) => jsonRequest(`${kiln.url}/v1/webhooks/endpoints`, account.key, 'POST', { url });
    assert.equal((await endpoint('https://receiver.example/a')).status, 201);
    const second = await endpoint('https://receiver.example/b');
    assertProblem(second, 429, 'quota_exceeded');
    assert.equal(second.body.quota, 'endpoints');
    assert.equal((await usage(account)).quotas.endpoints.used, 1);
  });

  test(
    'backpressure: past the backlog bound new work answers 503 overloaded; nothing accepted is lost, and the drained queue admits again',
    { timeout: 180_000 },
    async () => {
      const account = await createAccount(kiln.url, kiln.adminToken, 'backlog');
      const accepted: string[] = [];
      let overloaded: JsonResponse | undefined;
      // Each API process reads the backlog at most every two seconds: keep sending until the refusal shows.
      await waitUntil(
        async () => {
          const answer = await upload(account);
          if (answer.status === 202) accepted.push(answer.body.id);
          else overloaded = answer;
          return overloaded !== undefined;
        },
        60_000,
        'an overloaded answer',
      );
      assertProblem(overloaded!, 503, 'overloaded');
      const retryAfter = Number(overloaded!.headers.get('retry-after'));
      assert.ok(retryAfter >= 5 && retryAfter <= 300, `Retry-After ${retryAfter}`);
      assert.ok(overloaded!.body.queued >= 12);
      for (const id of accepted) assert.equal((await request(`${kiln.url}/v1/conversions/${id}`, { key: account.key })).body.status, 'queued');
      // The flood goes on: every further upload is refused, and none of them is kept anywhere.
      for (let i = 0; i < 5; i++) assertProblem(await upload(account), 503, 'overloaded');
      // The queue may already be past its bound when this test begins (the earlier tests' work is queued too): then nothing was accepted.
      const blobs = path.join(kiln.config.blobDir, account.id, 'conversions');
      const kept = existsSync(blobs) ? readdirSync(blobs).sort() : [];
      assert.deepEqual(kept, [...accepted].sort());
      assert.deepEqual(
        readdirSync(path.join(kiln.config.dataDir, 'spool')).flatMap((dir) => readdirSync(path.join(kiln.config.dataDir, 'spool', dir))),
        [],
      );

      await kiln.startWorkers();
      try {
        for (const id of accepted) {
          await waitUntil(
            async () => (await request(`${kiln.url}/v1/conversions/${id}`, { key: account.key })).body.status === 'succeeded',
            120_000,
            `${id} to finish`,
          );
        }
        await waitUntil(async () => (await upload(account)).status === 202, 60_000, 'new work to be admitted once drained');
      } finally {
        await kiln.stopWorkers();
      }
    },
  );
});

describe('a rate shared by several API processes on one PostgreSQL database', () => {
  let kiln: TestKiln;
  let second: { role: ApiRole; database: DatabaseHandle } | undefined;

  before(async () => {
    kiln = await startTestKiln('postgres', { KILN_RATE_LIMIT_WEBHOOKS: '10/1m' });
    const database = connectPostgres(kiln.databaseUrl!);
    second = { role: await startApiRole(kiln.config, database, kiln.env.client, kiln.blobs), database };
  });
  after(async () => {
    await second?.role.stop();
    await second?.database.close();
    await kiln?.stop();
  });

  test('requests through two API processes at once pass no more than the limit: exactly 10 of 40', async () => {
    const account = await createAccount(kiln.url, kiln.adminToken, 'shared-rate');
    const urls = [kiln.url, second!.role.api.url];
    // Recovering deliveries of an unknown endpoint answers 404 — after the request is counted.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        jsonRequest(`${urls[i % 2]}/v1/webhooks/recover`, account.key, 'POST', { endpoint_id: 'ep_00000000000000000000000', since: new Date().toISOString() }),
      ),
    );
    const counts = answers.reduce<Record<number, number>>((sum, a) => ({ ...sum, [a.status]: (sum[a.status] ?? 0) + 1 }), {});
    assert.deepEqual(counts, { 404: 10, 429: 30 });
    for (const answer of answers) assert.equal(rateFields(answer).q, 10);
  });
});
