import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, parseRetryAfter, parseSchedule, retryDelaySeconds } from '../../src/durations.js';
import { loadConfig, ConfigError } from '../../src/config.js';

test('durations read as written and print back the same', () => {
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('2m'), 120);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('5d'), 432_000);
  for (const bad of ['', '30', '1.5m', '-1s', '2 minutes', '1w']) assert.equal(parseDuration(bad), undefined, bad);
  assert.deepEqual([30, 120, 600, 90, 86_400].map(formatDuration), ['30s', '2m', '10m', '90s', '1d']);
});

test('schedules are checked entry by entry', () => {
  assert.deepEqual(parseSchedule(['30s', '2m', '10m']), { ok: true, seconds: [30, 120, 600] });
  assert.deepEqual(parseSchedule([]), { ok: true, seconds: [] });
  assert.equal(parseSchedule(['0s']).ok, false);
  assert.equal(parseSchedule(['8d']).ok, false);
  assert.equal(parseSchedule(Array(21).fill('1s')).ok, false);
});

test('the wait after each failed attempt follows the schedule; Retry-After stretches it within [delay, 2 × delay]', () => {
  const schedule = [30, 120, 600];
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => retryDelaySeconds(schedule, n)),
    [30, 120, 600, undefined],
  );
  assert.equal(retryDelaySeconds(schedule, 1, 45), 45);
  assert.equal(retryDelaySeconds(schedule, 1, 5), 30);
  assert.equal(retryDelaySeconds(schedule, 1, 10_000), 60);
  assert.equal(retryDelaySeconds(schedule, 4, 10), undefined);
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120);
  assert.equal(parseRetryAfter('Sun, 22 Nov 2026 12:01:30 GMT', now), 90);
  assert.equal(parseRetryAfter('Sun, 22 Nov 2026 11:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('webhook settings: defaults, overrides and clear errors', () => {
  const defaults = loadConfig({});
  assert.deepEqual(defaults.webhookRetrySchedule, [30, 120, 600]);
  assert.equal(defaults.webhookTimeoutSeconds, 10);
  assert.equal(defaults.endpointDisableAfterSeconds, 5 * 86_400);
  assert.equal(defaults.webhookSecretOverlapSeconds, 86_400);
  assert.equal(defaults.webhookAllowedCidrs, undefined);
  const set = loadConfig({ KILN_WEBHOOK_RETRY_SCHEDULE: '5s, 1m', KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8,::1/128', KILN_ENDPOINT_DISABLE_AFTER: '12h' });
  assert.deepEqual(set.webhookRetrySchedule, [5, 60]);
  assert.deepEqual(set.webhookAllowedCidrs, ['127.0.0.0/8', '::1/128']);
  assert.equal(set.endpointDisableAfterSeconds, 43_200);
  assert.throws(() => loadConfig({ KILN_WEBHOOK_RETRY_SCHEDULE: '30s,later' }), ConfigError);
  assert.throws(() => loadConfig({ KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.1' }), ConfigError);
  assert.throws(() => loadConfig({ KILN_ENDPOINT_DISABLE_AFTER: 'forever' }), ConfigError);
});
