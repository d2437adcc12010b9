import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * What this process did, whichever role it plays (API, worker, or both in `kiln dev`):
 * image work, webhook attempts and retention purges, counted where they happen. Each
 * process exposes it: the API at `/metrics`, a worker at its own metrics port.
 */
export const processMetrics = new Registry();

export const conversionDuration = new Histogram({
  name: 'kiln_conversion_duration_seconds',
  help: 'Time a converter spent on one conversion attempt (read, decode, operations, encode, write), by output format and outcome',
  labelNames: ['format', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [processMetrics],
});

export const conversionsInProgress = new Gauge({
  name: 'kiln_conversions_in_progress',
  help: 'Conversions a converter of this process is working on now',
  registers: [processMetrics],
});

export const webhookAttempts = new Counter({
  name: 'kiln_webhook_attempts_total',
  help: 'Webhook delivery attempts made by this process, by outcome (delivered, retry, failed) and error class',
  labelNames: ['outcome', 'error_class'] as const,
  registers: [processMetrics],
});

export const retentionPurged = new Counter({
  name: 'kiln_retention_purged_total',
  help: 'What the retention schedule removed in this process, by kind (original, output, archive, event_payload, attempt_preview)',
  labelNames: ['kind'] as const,
  registers: [processMetrics],
});

export const storageWaits = new Counter({
  name: 'kiln_storage_waits_total',
  help: 'Times a conversion found the blob store away or out of space and waited to try again, by reason (away, full)',
  labelNames: ['reason'] as const,
  registers: [processMetrics],
});

export const storageRefusals = new Counter({
  name: 'kiln_storage_refusals_total',
  help: 'Requests refused because the blob store or the upload spool was away (503) or out of space (507), by reason (away, full)',
  labelNames: ['reason'] as const,
  registers: [processMetrics],
});

export const limitRefusals = new Counter({
  name: 'kiln_limit_refusals_total',
  help: 'Requests refused by a limit, by reason (rate_limited, quota_exceeded, overloaded) and the limit (a rate policy, a quota, or convert_backlog)',
  labelNames: ['reason', 'limit'] as const,
  registers: [processMetrics],
});

export const webhookThrottled = new Counter({
  name: 'kiln_webhook_throttled_total',
  help: 'Webhook attempts a receiver throttle gave a later turn than they were due (they wait for it; none is a failure)',
  registers: [processMetrics],
});
