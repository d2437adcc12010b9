import { parseBody } from './json-body.js';
import type { AddressGuard } from '../net/address-guard.js';
import { EVENT_TYPES, type EventType } from '../model/event-catalog.js';
import { z } from 'zod';
import { isWellFormedSecret, type SignatureScheme } from '../signing/webhook-signature.js';
import type { RequestWebhook } from '../db/conversions.js';
import { ApiError } from './problem.js';
import { unstorableJson } from './safe-input.js';

const MAX_URL_LENGTH = 2048;
const MAX_METADATA_BYTES = 16 * 1024;
export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * A webhook target URL as given by a user: http(s), no credentials, and, when the host is
 * an IP literal, an address webhooks may reach. Names are judged again at every delivery,
 * after DNS, since they can resolve anywhere.
 */
export function checkWebhookUrl(raw: string, guard: AddressGuard, field: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError(400, 'invalid_url', `${field} must be an absolute http or https URL`, { field });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError(400, 'invalid_url', `${field} must use http or https`, { field });
  }
  if (raw.length > MAX_URL_LENGTH) throw new ApiError(400, 'invalid_url', `${field} must be at most ${MAX_URL_LENGTH} characters`, { field });
  if (url.username || url.password) throw new ApiError(400, 'invalid_url', `${field} must not carry credentials`, { field });
  const verdict = guard.checkUrlLiteral(url);
  if (verdict && !verdict.allowed) {
    throw new ApiError(422, 'blocked_address', `${field} points at an address webhooks may not reach: ${verdict.reason}`, { field });
  }
  return url.toString();
}

/** The webhook fields of a conversion or a job, as parsed. */
export type ConversionWebhookFields = RequestWebhook;

export const CONVERSION_WEBHOOK_FIELDS = ['webhook_url', 'webhook_events', 'webhook_metadata', 'tag'] as const;

/** Event types a webhook_url may ask for: all but the endpoint test's. */
export const REQUEST_EVENT_TYPES = EVENT_TYPES.filter((type) => type !== 'webhook.test');

/** `webhook_events`: event types separated by commas (a form field), or a JSON array (a JSON body). */
function parseWebhookEvents(raw: string | string[]): EventType[] {
  const names = typeof raw === 'string' ? raw.split(',').map((name) => name.trim()) : raw;
  const unknown = names.filter((name) => !(REQUEST_EVENT_TYPES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new ApiError(400, 'unknown_event_type', `webhook_events must list event types from: ${REQUEST_EVENT_TYPES.join(', ')}`, {
      field: 'webhook_events',
      unknown: unknown.map((name) => name.slice(0, 64)),
    });
  }
  return [...new Set(names)] as EventType[];
}

/** `webhook_url`, `webhook_events`, `webhook_metadata` (a JSON object as text) and `tag` of an upload. */
export function parseConversionWebhookFields(fields: Record<string, string>, guard: AddressGuard, events?: string[]): ConversionWebhookFields {
  const result: ConversionWebhookFields = { webhookUrl: null, events: null, metadata: null, tag: null };
  if (fields.webhook_url !== undefined) result.webhookUrl = checkWebhookUrl(fields.webhook_url, guard, 'webhook_url');
  const rawEvents = events ?? fields.webhook_events;
  if (rawEvents !== undefined) {
    if (result.webhookUrl === null) throw new ApiError(400, 'invalid_options', 'webhook_events applies to webhook_url: send both', { field: 'webhook_events' });
    result.events = parseWebhookEvents(rawEvents);
  }
  if (fields.webhook_metadata !== undefined) {
    if (Buffer.byteLength(fields.webhook_metadata) > MAX_METADATA_BYTES) {
      throw new ApiError(400, 'invalid_metadata', `webhook_metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`, { field: 'webhook_metadata' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.webhook_metadata);
    } catch {
      throw new ApiError(400, 'invalid_metadata', 'webhook_metadata must be a JSON object', { field: 'webhook_metadata' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ApiError(400, 'invalid_metadata', 'webhook_metadata must be a JSON object', { field: 'webhook_metadata' });
    }
    const unstorable = unstorableJson(parsed);
    if (unstorable) throw new ApiError(400, 'invalid_metadata', `webhook_metadata: ${unstorable}`, { field: 'webhook_metadata' });
    result.metadata = parsed as Record<string, unknown>;
  }
  if (fields.tag !== undefined) {
    if (!TAG_PATTERN.test(fields.tag)) {
      throw new ApiError(400, 'invalid_tag', 'tag must be 1–64 letters, digits, or . _ : - (starting with a letter or digit)', { field: 'tag' });
    }
    result.tag = fields.tag;
  }
  return result;
}

const MAX_CUSTOM_HEADERS = 20;
const MAX_CUSTOM_HEADER_BYTES = 4096;
/** An HTTP field name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Names Kiln sets, or that belong to the connection: an endpoint may not send its own. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'host',
  'user-agent',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

/** A header name an endpoint may set: an HTTP token, not Kiln's or the connection's; answered lower-case. */
export function checkHeaderName(rawName: string, refuse: (message: string) => ApiError): string {
  const name = rawName.toLowerCase();
  if (!HEADER_NAME.test(rawName)) throw refuse(`header name ${JSON.stringify(rawName.slice(0, 100))} is not a valid HTTP field name`);
  if (RESERVED_HEADERS.has(name) || name.startsWith('x-kiln-') || name.startsWith('proxy-'))
    throw refuse(`${name} is set by Kiln or the connection, not by an endpoint`);
  return name;
}

/**
 * An endpoint's custom headers: at most 20, names HTTP tokens (stored lower-case), values
 * printable without line breaks, never one of Kiln's own names (its signing headers,
 * `x-kiln-…`) or the connection's.
 */
export function checkCustomHeaders(headers: Record<string, unknown>): Record<string, string> {
  const refuse = (message: string): ApiError => new ApiError(400, 'invalid_headers', message, { field: 'headers' });
  const entries = Object.entries(headers);
  if (entries.length > MAX_CUSTOM_HEADERS) throw refuse(`at most ${MAX_CUSTOM_HEADERS} headers`);
  const checked: Record<string, string> = {};
  for (const [rawName, value] of entries) {
    const name = checkHeaderName(rawName, refuse);
    if (typeof value !== 'string' || !/^[\x20-\x7e\t]*$/.test(value) || Buffer.byteLength(value) > MAX_CUSTOM_HEADER_BYTES) {
      throw refuse(`header ${name} must be printable ASCII text of at most ${MAX_CUSTOM_HEADER_BYTES} bytes, on one line`);
    }
    if (Object.hasOwn(checked, name)) throw refuse(`header ${name} is given twice`);
    checked[name] = value.trim();
  }
  return checked;
}

/** Custom headers may not name the extra signature's headers, which would replace them. */
export function checkHeadersBesideSignature(headers: Record<string, string>, signature: SignatureScheme | null): void {
  for (const name of [signature?.header, signature?.timestamp_header]) {
    if (name && Object.hasOwn(headers, name)) {
      throw new ApiError(400, 'invalid_headers', `${name} carries the extra signature; a custom header may not use its name`, { field: 'headers' });
    }
  }
}

/** A plain-string secret, for a receiver that checks an extra signature header keyed with the string itself. */
const PLAIN_SECRET = /^[\x21-\x7e]{16,256}$/;

/**
 * A signing secret a user brings (on create or rotate): `whsec_` and base64 of 24–64 bytes,
 * or, where an extra signature header is set (`plainAllowed`), any 16–256 printable
 * characters without spaces, the receiver's secret as it is.
 */
export function checkBroughtSecret(secret: string, plainAllowed: boolean): string {
  if (isWellFormedSecret(secret) || (plainAllowed && PLAIN_SECRET.test(secret))) return secret;
  const plain = plainAllowed
    ? ', or 16 to 256 printable characters without spaces'
    : '; a plain-string secret is taken where the endpoint sets an extra signature header (signature)';
  throw new ApiError(
    400,
    'invalid_secret',
    `secret must be whsec_ followed by the base64 of 24 to 64 random bytes (as Standard Webhooks secrets are)${plain}`,
    {
      field: 'secret',
    },
  );
}

const MAX_OVERLAP_SECONDS = 30 * 86_400;

/** The optional body of a rotate route: `{"secret": "whsec_…"}` to bring the next secret, `overlap_seconds` to shorten the overlap. */
export const rotateBody = z
  .object({
    secret: z
      .string()
      .optional()
      .describe(
        'The next secret, when the receiver already has one (whsec_ + base64 of 24–64 bytes, or a plain string where an extra signature header is set); a new one is made when absent',
      ),
    overlap_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_OVERLAP_SECONDS)
      .optional()
      .describe(
        'How long the current secret keeps signing beside the new one (default KILN_WEBHOOK_SECRET_OVERLAP); 0 retires it now: for a leaked secret, or to bring the secret a receiver already holds when nothing relies on the current one',
      ),
  })
  .strict();

export interface RotateRequest {
  secret: string | undefined;
  overlapSeconds: number | undefined;
}

/** What a rotate request asks for; a plain-string secret only for a target with an extra signature header. */
export function readRotateBody(body: unknown, plainAllowed: boolean): RotateRequest {
  if (body === undefined) return { secret: undefined, overlapSeconds: undefined };
  const { secret, overlap_seconds: overlapSeconds } = parseBody(rotateBody, body);
  return { secret: secret === undefined ? undefined : checkBroughtSecret(secret, plainAllowed), overlapSeconds };
}
