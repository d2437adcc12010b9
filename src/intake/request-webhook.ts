import type { RequestWebhook } from '../db/conversions.js';
import { EVENT_TYPES, type EventType } from '../model/event-catalog.js';
import type { AddressGuard } from '../net/address-guard.js';
import { ApiError } from '../problem.js';
import { unstorableJson } from '../safe-input.js';

/**
 * The webhook a conversion or a job brings with it (webhook_url, webhook_events,
 * webhook_metadata, tag), and the rule for any webhook target URL a user gives.
 */

export const MAX_URL_LENGTH = 2048;
export const MAX_METADATA_BYTES = 16 * 1024;
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
