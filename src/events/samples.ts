import type { EventRow } from '../db/schema.js';
import { EVENT_TYPES, type EventType, type StoredEventData } from '../model/event-catalog.js';

/**
 * A made-up event of each type, as Kiln stores it, for template checks at save time and for
 * previews. Their ids name no real object; test/unit/event-samples.test.ts holds them to the
 * catalog's schemas.
 */

const input = { filename: 'photo.jpg', bytes: 2_481_152, content_type: 'image/jpeg', format: 'jpeg', width: 4032, height: 3024 };
const output = { filename: 'photo.webp', format: 'webp', bytes: 312_406, width: 1600, height: 1200 };
const metadata = { user_id: 'u_123', upload_id: 'ul_456' };
const conversion = { conversion_id: 'cnv_sample', input, metadata, tag: null };
const error = { code: 'unsupported_input', message: 'the input is not an image Kiln can read' };
const counts = { total: 3, queued: 0, running: 0, succeeded: 2, failed: 1, cancelled: 0 };
const job = { job_id: 'job_sample', metadata, tag: null };
const failedFile = { conversion_id: 'cnv_sample_3', index: 2, filename: 'notes.txt', status: 'failed' as const, error };

const SAMPLE_DATA: { [T in EventType]: StoredEventData<T> } = {
  'file.uploaded': { ...conversion, input: { ...input, format: null, width: null, height: null }, status: 'queued' },
  'conversion.started': { ...conversion, status: 'running' },
  'conversion.completed': {
    ...conversion,
    status: 'succeeded',
    output,
    outputs: [
      { index: 0, ...output },
      { index: 1, filename: 'photo-1.jpg', format: 'jpeg', bytes: 48_211, width: 400, height: 300 },
    ],
  },
  'conversion.failed': { ...conversion, status: 'failed', error },
  'conversion.cancelled': { ...conversion, status: 'cancelled', error: { code: 'cancelled', message: 'cancelled by request' } },
  'job.started': { ...job, status: 'running', counts: { ...counts, queued: 3, succeeded: 0, failed: 0 }, progress: 0 },
  'job.progress': {
    ...job,
    status: 'running',
    counts: { ...counts, queued: 1, succeeded: 2, failed: 0 },
    progress: 67,
    file: { conversion_id: 'cnv_sample_2', index: 1, filename: 'photo-2.jpg', status: 'succeeded', error: null },
  },
  'job.completed': { ...job, status: 'succeeded', counts: { ...counts, succeeded: 3, failed: 0 }, progress: 100 },
  'job.failed': { ...job, status: 'failed', counts, progress: 100, failures: [failedFile], failures_omitted: 0 },
  'job.cancelled': { ...job, status: 'cancelled', counts: { ...counts, succeeded: 1, failed: 0, cancelled: 2 }, progress: 100 },
  'webhook.test': { endpoint_id: 'ep_sample', message: 'A test event from Kiln. If you can read this, your endpoint works.' },
};

/** A sample event of `type` for `accountId`, stamped `now`. */
export function sampleEvent(type: EventType, accountId: string, now: Date): EventRow {
  return {
    // Shaped as every event id is (so it fits wherever one is taken), and plainly not a stored one.
    id: `evt_sample${String(EVENT_TYPES.indexOf(type)).padStart(17, '0')}`,
    account_id: accountId,
    type,
    subject_id: 'sample',
    dedupe_key: `sample:${type}`,
    data: SAMPLE_DATA[type],
    created_at: now,
  };
}
