import { parseBody } from './json-body.js';
import { z } from 'zod';
import type { ReceiverFormat } from '../db/deliveries.js';
import type { RotatingSecret, SignatureScheme } from '../signing/webhook-signature.js';
import { EVENT_TYPES, isEventType, type EventType } from '../model/event-catalog.js';
import { sampleEvent } from '../events/samples.js';
import type { Kysely } from 'kysely';
import type { Database, EventRow } from '../db/schema.js';
import { findEvent } from '../db/events.js';
import { formRequest } from '../webhooks/attempt.js';
import { templateSyntaxError } from '../webhooks/template.js';
import type { ApiDependencies } from './context.js';
import { ApiError } from '../problem.js';
import type * as contract from './contract/schemas.js';
import { WEBHOOK_USER_AGENT } from '../version.js';
import { checkHeaderName, HEADER_NAME } from './webhook-fields.js';

/**
 * The shape of the requests a receiver written for another service expects, as the API
 * takes it: an extra signature header and a payload template, on an endpoint or on the
 * account's per-request `webhook_url` settings.
 */

/** An HTTP field name (RFC 9110 token); which names an endpoint may use is checked beyond the pattern. */
const httpFieldName = z.string().regex(HEADER_NAME, 'a header name is an HTTP token of 1–100 characters');

export const signatureBody = z
  .object({
    header: httpFieldName.describe('The header to send it in, e.g. X-KoalaPic-Signature (not one of Kiln’s own names, x-kiln-…, or the connection’s)'),
    algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256').describe('The HMAC hash'),
    signed_content: z
      .enum(['body', 'timestamp.body'])
      .optional()
      .describe('What is signed: the raw body, or `<unix seconds>.<raw body>`; default body, or timestamp.body in the timestamped form'),
    encoding: z.enum(['hex', 'base64']).default('hex').describe('How the HMAC is written'),
    prefix: z
      .string()
      .max(32, 'prefix is at most 32 characters')
      .regex(/^[\x21-\x7e]*$/, 'prefix is printable characters without spaces')
      .default('')
      .describe('Written before each signature, e.g. sha256='),
    form: z
      .enum(['plain', 'timestamped'])
      .default('plain')
      .describe('plain: the signature alone; timestamped: t=<unix seconds>,v1=<signature> (Stripe’s and Convertly’s shape), one v1 per live secret'),
    timestamp_header: httpFieldName.nullable().default(null).describe('Also send the unix timestamp in this header (e.g. convertly-timestamp)'),
  })
  .strict()
  .describe(
    'An extra signature header beside the Standard Webhooks ones, keyed with the secret string as it is (its UTF-8 bytes). Through a rotation the plain form signs with the secret in force before it until the overlap ends; the timestamped form carries both.',
  );

export const templateField = z
  .string()
  .nullable()
  .describe('A JSONata expression over Kiln’s envelope ({id, type, timestamp, data}); its result is the body sent. null: the envelope itself');

/** A stored signature scheme in the documented field order (jsonb keeps its own). */
export function presentSignature(scheme: SignatureScheme | null): SignatureScheme | null {
  if (scheme === null) return null;
  const { header, algorithm, signed_content, encoding, prefix, form, timestamp_header } = scheme;
  return { header, algorithm, signed_content, encoding, prefix, form, timestamp_header };
}

/** Checks a parsed signature body: its header names are ones an endpoint may use. */
export function checkSignature(input: z.output<typeof signatureBody> | null): SignatureScheme | null {
  if (input === null) return null;
  const refuse = (message: string): ApiError => new ApiError(400, 'invalid_signature', message, { field: 'signature' });
  const header = checkHeaderName(input.header, refuse);
  const timestampHeader = input.timestamp_header === null ? null : checkHeaderName(input.timestamp_header, refuse);
  if (timestampHeader === header) throw refuse('timestamp_header must differ from header');
  return {
    header,
    algorithm: input.algorithm,
    signed_content: input.signed_content ?? (input.form === 'timestamped' ? 'timestamp.body' : 'body'),
    encoding: input.encoding,
    prefix: input.prefix,
    form: input.form,
    timestamp_header: timestampHeader,
  };
}

/**
 * A template as saved: it parses, and renders within its bounds over a sample of each event
 * type the target receives (`eventTypes`; empty: all), so a mistake shows now, not at the
 * first delivery.
 */
export async function checkTemplate(
  deps: Pick<ApiDependencies, 'templates' | 'signer'>,
  template: string | null,
  eventTypes: readonly EventType[],
): Promise<string | null> {
  if (template === null) return null;
  const syntax = templateSyntaxError(template);
  if (syntax) throw new ApiError(400, 'invalid_template', `template: ${syntax}`, { field: 'template' });
  const now = new Date();
  for (const type of eventTypes.length ? eventTypes : EVENT_TYPES) {
    const formed = await formRequest({ ...deps, userAgent: '' }, sampleEvent(type, 'acc_sample', now), sampleTarget(template), now);
    if ('error' in formed) {
      throw new ApiError(400, 'invalid_template', `template, over a sample ${type} event: ${formed.error.message}`, { field: 'template', event_type: type });
    }
  }
  return template;
}

function sampleTarget(template: string): ReceiverFormat & { secrets: RotatingSecret } {
  return {
    headers: {},
    signature: null,
    template,
    secrets: { secret: 'whsec_c2FtcGxlLXNlY3JldC1mb3ItdGVtcGxhdGUtY2hlY2tz', previousSecret: null, previousExpiresAt: null },
  };
}

export const previewBody = z
  .object({
    event_type: z.enum(EVENT_TYPES).optional().describe('Render a sample event of this type (default: the first the target receives, else webhook.test)'),
    event_id: z
      .string()
      .regex(/^evt_[0-9a-z]{23}$/, 'event_id is an event id (evt_…)')
      .optional()
      .describe('Render this stored event of the account instead of a sample'),
    template: templateField.optional().describe('Try this template instead of the saved one (null: none)'),
  })
  .strict();

/** As read: the event type is checked by previewEvent, which names an unknown one by its own code (unknown_event_type). */
const previewInput = previewBody.extend({ event_type: z.string().optional() });
export type PreviewInput = z.output<typeof previewInput>;

/** A preview's body: none at all renders the default sample; anything sent must be the object (JSON `null` included: 400). */
export function readPreviewBody(body: unknown): PreviewInput {
  return body === undefined ? {} : parseBody(previewInput, body);
}

/** What a preview may answer beside the JSON body problems. */
export const PREVIEW_PROBLEMS = { 400: ['unknown_event_type'], 404: ['event_not_found'], 422: ['template_failed'] } as const;

function unknownEventType(type: string): ApiError {
  return new ApiError(400, 'unknown_event_type', `unknown event type ${type.slice(0, 64)}; see GET /v1/webhooks/event-types`, { field: 'event_type' });
}

/** The event a preview renders: the account's stored one, or a sample of the asked type (else of the first type the target receives). */
export async function previewEvent(db: Kysely<Database>, accountId: string, input: PreviewInput, receives: readonly EventType[]): Promise<EventRow> {
  if (input.event_type !== undefined && !isEventType(input.event_type)) throw unknownEventType(input.event_type);
  if (input.event_id !== undefined) {
    const event = await findEvent(db, accountId, input.event_id);
    if (!event) throw new ApiError(404, 'event_not_found', `no event ${input.event_id}`, { field: 'event_id' });
    return event;
  }
  const type = input.event_type ?? receives[0] ?? 'webhook.test';
  if (!isEventType(type)) throw unknownEventType(type);
  return sampleEvent(type, accountId, new Date());
}

/** What a preview shows: the request an attempt sent now would make, headers signed and all. */
export async function previewRequest(
  deps: ApiDependencies,
  event: EventRow,
  target: ReceiverFormat & { secrets: RotatingSecret; url: string | null },
): Promise<z.input<typeof contract.DeliveryPreview>> {
  const formed = await formRequest({ ...deps, userAgent: WEBHOOK_USER_AGENT }, event, target, new Date());
  if ('error' in formed) throw new ApiError(422, 'template_failed', `template: ${formed.error.message}`, { field: 'template', event_type: event.type });
  return { event_id: event.id, event_type: event.type, url: target.url, headers: formed.headers, body: formed.body };
}
