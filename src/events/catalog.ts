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
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
  })
  .describe('The original file.');
const output = z
  .object({
    filename: z.string(),
    format: z.string(),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
  })
  .describe('The converted file.');
const error = z.object({ code: z.string(), message: z.string() }).describe('Why the conversion did not produce output.');
const conversionId = z.string().describe('The conversion (cnv_…).');

const conversionBase = { conversion_id: conversionId, input, metadata, tag };

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
type SignedAtSend = 'download_url' | 'download_expires_at';

/** An event's `data` as Kiln stores it: what receivers get, less what is signed at send time. */
export type StoredEventData<T extends EventType> = Omit<EventData<T>, SignedAtSend>;

/** The events that report a step of one conversion. */
export type ConversionEventType = Extract<EventType, 'file.uploaded' | `conversion.${string}`>;
export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as EventType[];

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
