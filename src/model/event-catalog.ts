import { z } from 'zod';

/**
 * Every event type Kiln publishes, with the shape of its `data`. The schemas are the
 * documentation: `GET /v1/webhooks/event-types` serves them as JSON Schema, and the unit
 * tests check real payloads against them.
 */

const metadata = z
  .record(z.string(), z.unknown())
  .nullable()
  .describe('The webhook_metadata object sent with the conversion, echoed verbatim; null when none was sent.');
const tag = z.string().nullable().describe('The tag sent with the conversion; endpoints with tags receive only matching events.');
const input = z
  .object({
    filename: z.string(),
    bytes: z.number().int(),
    content_type: z.string().nullable().describe('As the client declared it.'),
    format: z.string().nullable().describe('As decoded; null until the conversion has read the file.'),
    width: z.number().int().nullable().describe('Of the page or frame converted, as decoded (a PDF page at the density asked for).'),
    height: z.number().int().nullable(),
    pages: z
      .number()
      .int()
      .optional()
      .describe(
        'Pages of a multi-page original once read: a PDF’s pages (even one), a HEIC collection’s images, an animation’s frames. Absent for a single image.',
      ),
  })
  .describe('The original file.');
const output = z
  .object({
    filename: z.string(),
    format: z.string(),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    frames: z.number().int().optional().describe('Frames of an animated output (absent for a still).'),
  })
  .describe('The converted file.');
const error = z.object({ code: z.string(), message: z.string() }).describe('Why the conversion did not produce output.');
const conversionId = z.string().describe('The conversion (cnv_…).');

const conversionBase = { conversion_id: conversionId, input, metadata, tag };

const jobId = z.string().describe('The job (job_…).');
export const JOB_COUNTS = z
  .object({
    total: z.number().int(),
    queued: z.number().int().describe('Not started by the job yet.'),
    running: z.number().int().describe('Started by the job and not finished: converting, or waiting for a converter.'),
    succeeded: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
  })
  .describe("How many of the job's files stand where, when the event happened.");
export const JOB_PROGRESS = z.number().int().min(0).max(100).describe('Files finished (succeeded, failed or cancelled), as a whole percentage of all files.');
const jobMetadata = z
  .record(z.string(), z.unknown())
  .nullable()
  .describe('The webhook_metadata object sent with the job, echoed verbatim; null when none was sent.');
const jobTag = z.string().nullable().describe('The tag sent with the job; endpoints with tags receive only matching events.');
const jobBase = { job_id: jobId, counts: JOB_COUNTS, progress: JOB_PROGRESS, metadata: jobMetadata, tag: jobTag };
const fileError = z.object({ code: z.string(), message: z.string() });
const fileOutcome = z
  .object({
    conversion_id: conversionId,
    index: z.number().int().describe("The file's place in the job, from 0."),
    filename: z.string(),
    status: z.enum(['succeeded', 'failed', 'cancelled']),
    error: fileError.nullable().describe('Why it did not produce output; null when it succeeded.'),
  })
  .describe('A file of the job, as it ended.');

const archiveUrl = z.string().describe("A signed link to a zip of the job's succeeded outputs, signed when this attempt was sent.");
const archiveExpiresAt = z.string().describe('When archive_url stops working (ISO-8601); fetch the job for a fresh link.');
const archiveLink = { archive_url: archiveUrl, archive_expires_at: archiveExpiresAt };
const archiveLinkWhenAny = {
  archive_url: archiveUrl.optional().describe('As in job.completed; present when any file succeeded.'),
  archive_expires_at: archiveExpiresAt.optional(),
};

export const EVENT_CATALOG = {
  'file.uploaded': {
    description: 'The original file of a conversion was received and stored.',
    data: z.object({ ...conversionBase, status: z.literal('queued') }),
  },
  'conversion.started': {
    description: 'A conversion began its first attempt.',
    data: z.object({ ...conversionBase, status: z.literal('running') }),
  },
  'conversion.completed': {
    description: 'A conversion succeeded; its output is ready to download.',
    data: z.object({
      ...conversionBase,
      status: z.literal('succeeded'),
      output,
      download_url: z.string().describe('A signed link to the output, signed when this attempt was sent.'),
      download_expires_at: z.string().describe('When download_url stops working (ISO-8601); fetch the conversion for a fresh link.'),
      outputs: z
        .array(
          output.extend({
            index: z.number().int().describe('Its place in the request’s outputs, from 0 (0 is `output`).'),
            download_url: z.string().optional().describe('A signed link to this output, signed when this attempt was sent (always sent).'),
            download_expires_at: z.string().optional(),
          }),
        )
        .optional()
        .describe('Every output, when the conversion asked for several (renditions).'),
    }),
  },
  'conversion.failed': {
    description: 'A conversion ended without output; `error` says why.',
    data: z.object({ ...conversionBase, status: z.literal('failed'), error }),
  },
  'conversion.cancelled': {
    description: 'A conversion was cancelled before it finished.',
    data: z.object({ ...conversionBase, status: z.literal('cancelled'), error }),
  },
  'job.started': {
    description: 'A job began: its files start converting, as many at once as its concurrency.',
    data: z.object({ ...jobBase, status: z.literal('running') }),
  },
  'job.progress': {
    description: 'A file of a job ended (succeeded, failed or was cancelled); one event per file.',
    data: z.object({ ...jobBase, status: z.literal('running'), file: fileOutcome }),
  },
  'job.completed': {
    description: 'Every file of a job succeeded.',
    data: z.object({ ...jobBase, status: z.literal('succeeded'), ...archiveLink }),
  },
  'job.failed': {
    description:
      'A job ended and at least one of its files did not succeed: it failed, or was cancelled on its own through the conversions API; `failures` lists them (the first 100).',
    data: z.object({
      ...jobBase,
      status: z.literal('failed'),
      failures: z.array(fileOutcome).describe('The files that did not succeed (the first 100 to end so), in file order, each with its status and error code.'),
      failures_omitted: z.number().int().describe('Such files beyond those listed.'),
      ...archiveLinkWhenAny,
    }),
  },
  'job.cancelled': {
    description: 'A job was cancelled: files it had not started never start, and those under way were cancelled; finished ones keep their outputs.',
    data: z.object({ ...jobBase, status: z.literal('cancelled'), ...archiveLinkWhenAny }),
  },
  'webhook.test': {
    description: 'Sent to one endpoint by POST /v1/webhooks/endpoints/{id}/test, to check a receiver.',
    data: z.object({
      endpoint_id: z.string().describe('The endpoint this test was sent to (ep_…).'),
      message: z.string(),
    }),
  },
} as const;

export type EventType = keyof typeof EVENT_CATALOG;

/** An event's `data` as receivers get it. */
export type EventData<T extends EventType> = z.infer<(typeof EVENT_CATALOG)[T]['data']>;

/** Fields signed into the body at each attempt (so a late retry carries a live link) rather than stored. */
type SignedAtSend = 'download_url' | 'download_expires_at' | 'archive_url' | 'archive_expires_at';

/** An event's `data` as Kiln stores it: what receivers get, less what is signed at send time. */
export type StoredEventData<T extends EventType> = Omit<EventData<T>, SignedAtSend>;

/** The events that report a step of one conversion. */
export type ConversionEventType = Extract<EventType, 'file.uploaded' | `conversion.${string}`>;
/** The events that report a step of one job. */
export type JobEventType = Extract<EventType, `job.${string}`>;
export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as EventType[];

/** The events after which nothing more happens to a job, or to a conversion. */
export const JOB_FINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['job.completed', 'job.failed', 'job.cancelled']);
export const CONVERSION_FINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['conversion.completed', 'conversion.failed', 'conversion.cancelled']);

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_CATALOG, value);
}

/** The catalog as the API serves it. */
export function describeEventTypes(): Array<{ type: EventType; description: string; schema: unknown }> {
  return EVENT_TYPES.map((type) => ({
    type,
    description: EVENT_CATALOG[type].description,
    schema: z.toJSONSchema(EVENT_CATALOG[type].data),
  }));
}
