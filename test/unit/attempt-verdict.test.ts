import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeAttempt } from '../../src/webhooks/attempt-verdict.js';
import type { PostOutcome } from '../../src/webhooks/http-post.js';

const now = new Date('2026-12-02T12:00:00Z');
const schedule = [30, 120, 600];

function answered(statusCode: number | null, extra: Partial<PostOutcome> = {}): PostOutcome {
  return { startedAt: now, durationMs: 5, statusCode, retryAfter: undefined, bodyPreview: null, error: null, ...extra };
}
const scheduled = (number: number) => ({ trigger: 'scheduled' as const, number, retrySchedule: schedule, now });
const manual = { trigger: 'manual' as const, number: 1, retrySchedule: schedule, now };

test('every 2xx delivers; nothing else does', () => {
  for (const code of [200, 201, 202, 204, 299]) assert.deepEqual(judgeAttempt(answered(code), scheduled(1)), { kind: 'delivered' });
  for (const code of [100, 301, 302, 304, 400, 404, 500]) assert.notEqual(judgeAttempt(answered(code), scheduled(1)).kind, 'delivered', String(code));
});

test('a failed scheduled attempt waits the schedule entry for its attempt number, then gives up when the schedule is used up', () => {
  const delays = [1, 2, 3].map((n) => judgeAttempt(answered(500), scheduled(n)));
  assert.deepEqual(
    delays.map((v) => (v.kind === 'retry' ? v.delaySeconds : v.kind)),
    [30, 120, 600],
  );
  const last = judgeAttempt(answered(500), scheduled(4));
  assert.equal(last.kind, 'give_up');
  assert.equal(last.kind === 'give_up' && last.failureType, 'http_status');
  assert.match(last.kind === 'give_up' ? last.failureMessage : '', /answered 500.*no retries left/);
  assert.equal(last.kind === 'give_up' && last.disableEndpoint, false);
});

test('a redirect is a failure that says redirects are not followed', () => {
  const verdict = judgeAttempt(answered(302), scheduled(1));
  assert.equal(verdict.kind, 'retry');
  assert.match(verdict.kind === 'retry' ? verdict.error.message : '', /redirects are not followed/);
});

test('Retry-After on 429 and 503 stretches the wait within [scheduled, 2 × scheduled]; on other statuses it is ignored', () => {
  const delay = (code: number, retryAfter: string, attempt = 1): number | string => {
    const verdict = judgeAttempt(answered(code, { retryAfter }), scheduled(attempt));
    return verdict.kind === 'retry' ? verdict.delaySeconds : verdict.kind;
  };
  assert.equal(delay(429, '45'), 45);
  assert.equal(delay(503, '1000', 2), 240);
  assert.equal(delay(429, '1', 3), 600);
  assert.equal(delay(429, new Date(now.getTime() + 50_000).toUTCString()), 50);
  assert.equal(delay(500, '45'), 30);
  assert.equal(delay(429, 'soon'), 30);
});

test('410 Gone gives up at once and disables the endpoint, on any attempt, manual ones included', () => {
  for (const attempt of [scheduled(1), scheduled(3), manual]) {
    const verdict = judgeAttempt(answered(410), attempt);
    assert.deepEqual(verdict.kind === 'give_up' && [verdict.failureType, verdict.disableEndpoint], ['endpoint_gone', true]);
  }
});

test('a blocked address or an invalid URL gives up at once without disabling anything', () => {
  for (const errorClass of ['blocked_address', 'invalid_url'] as const) {
    const verdict = judgeAttempt(answered(null, { error: { class: errorClass, message: 'no' } }), scheduled(1));
    assert.deepEqual(verdict.kind === 'give_up' && [verdict.failureType, verdict.disableEndpoint], [errorClass, false]);
  }
});

test('timeouts and connection errors are retried like a 5xx', () => {
  for (const errorClass of ['timeout', 'connection'] as const) {
    const verdict = judgeAttempt(answered(null, { error: { class: errorClass, message: 'no' } }), scheduled(2));
    assert.deepEqual(verdict.kind === 'retry' && [verdict.error.class, verdict.delaySeconds], [errorClass, 120]);
  }
});

test('a failed manual attempt never touches the schedule; an empty schedule gives up after the first attempt', () => {
  const verdict = judgeAttempt(answered(500, { retryAfter: '45' }), manual);
  assert.deepEqual(verdict.kind === 'manual_failed' && [verdict.failureType, verdict.error.class], ['http_status', 'http_status']);
  const single = judgeAttempt(answered(503), { ...scheduled(1), retrySchedule: [] });
  assert.equal(single.kind, 'give_up');
});
