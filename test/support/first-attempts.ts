import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { AttemptLog } from '../../src/db/attempt-log.js';
import type { Database } from '../../src/db/schema.js';
import { DownloadSigner } from '../../src/signing/download-url.js';
import { AddressGuard } from '../../src/net/address-guard.js';
import { TemplateRenderer } from '../../src/webhooks/template.js';
import { FirstAttempts } from '../../src/webhooks/first-attempts.js';
import { RequestsUnderWay } from '../../src/requests-under-way.js';

/**
 * First attempts as the worker role makes them, for workflow tests that record events:
 * no address is allowed (these tests' events have no receivers), links signed for a
 * stand-in public URL.
 */
export function testFirstAttempts(db: Kysely<Database>, client: Client, defaultRetrySchedule: number[]): FirstAttempts {
  return new FirstAttempts({
    attempt: {
      db,
      attemptLog: new AttemptLog(db),
      guard: new AddressGuard([]),
      signer: new DownloadSigner('workflow-test-key', () => 'http://kiln.test', 3600),
      templates: new TemplateRenderer({ timeoutMs: 250, maxOutputBytes: 256 * 1024, memoryMb: 64 }),
      disableAfterSeconds: 86_400,
      userAgent: 'Kiln-Webhooks/test',
    },
    client,
    settings: { defaultRetrySchedule, requestTimeoutSeconds: 10 },
    concurrency: 10,
    concurrencyWhileRequests: 10,
    requests: new RequestsUnderWay(),
    maxWaiting: 100,
    windowMs: 15_000,
    claimSeconds: 60,
    log: () => {},
  });
}
