import { WebhookVerificationError } from './errors.js';

/** A delivery's body as Kiln sends it (with no payload template). */
export interface WebhookEvent {
  id: string;
  type: string;
  /** When the event happened (ISO-8601). */
  timestamp: string;
  data: Record<string, unknown>;
}

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Now, for tests. */
  now?: Date;
}

type Headers = Record<string, string | string[] | undefined> | globalThis.Headers;

const encoder = new TextEncoder();

function header(headers: Headers, name: string): string | undefined {
  if (typeof (headers as globalThis.Headers).get === 'function') return (headers as globalThis.Headers).get(name) ?? undefined;
  const found = Object.entries(headers as Record<string, string | string[] | undefined>).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(found) ? found[0] : found;
}

/** The key of a Standard Webhooks secret: the bytes after `whsec_`, else the text itself. */
function standardKey(secret: string): Uint8Array {
  if (secret.startsWith('whsec_')) return Uint8Array.from(atob(secret.slice(6)), (c) => c.charCodeAt(0));
  return encoder.encode(secret);
}

async function hmac(key: Uint8Array, content: string): Promise<Uint8Array> {
  const imported = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', imported, encoder.encode(content)));
}

const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Compares without stopping at the first difference. */
function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Checks a delivery Kiln made and answers its event. `rawBody` is the body exactly as
 * received (before any JSON parsing); `secrets` every secret that may sign it (during a
 * rotation, the new one and the old). Standard Webhooks headers are checked when present
 * (`webhook-id`, `webhook-timestamp` within the tolerance, one `v1,` signature per live
 * secret); otherwise `X-Kiln-Signature` (`sha256=` + hex HMAC of the body). Throws
 * WebhookVerificationError saying why it does not hold. Needs only Web Crypto: Node 20+
 * and browsers alike.
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array,
  headers: Headers,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): Promise<WebhookEvent> {
  const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
  const candidates = typeof secrets === 'string' ? [secrets] : [...secrets];
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id && timestamp && signatures) {
    const seconds = Number(timestamp);
    const now = (options.now ?? new Date()).getTime() / 1000;
    if (!Number.isFinite(seconds) || Math.abs(now - seconds) > (options.toleranceSeconds ?? 300))
      throw new WebhookVerificationError('timestamp_out_of_tolerance');
    const offered = signatures.split(' ').flatMap((entry) => (entry.startsWith('v1,') ? [entry.slice(3)] : []));
    for (const secret of candidates) {
      const expected = base64(await hmac(standardKey(secret), `${id}.${timestamp}.${body}`));
      if (offered.some((signature) => same(signature, expected))) return parse(body);
    }
    throw new WebhookVerificationError('no_matching_signature');
  }
  const kiln = header(headers, 'x-kiln-signature');
  if (!kiln) throw new WebhookVerificationError('missing_headers');
  for (const secret of candidates) {
    if (same(kiln, `sha256=${hex(await hmac(encoder.encode(secret), body))}`)) return parse(body);
  }
  throw new WebhookVerificationError('no_matching_signature');
}

/**
 * The signature headers Kiln puts on a delivery of `body` (Standard Webhooks, one `v1,`
 * entry per secret, and `X-Kiln-Signature` with the last, the oldest live one), for a
 * forwarder such as `kiln listen` that sends an event on as Kiln would.
 */
export async function signWebhook(
  body: string,
  messageId: string,
  secrets: string | readonly string[],
  timestamp: Date = new Date(),
): Promise<Record<string, string>> {
  const list = typeof secrets === 'string' ? [secrets] : [...secrets];
  if (list.length === 0) throw new Error('signWebhook needs at least one secret');
  const seconds = Math.floor(timestamp.getTime() / 1000).toString();
  const signatures = await Promise.all(list.map(async (secret) => `v1,${base64(await hmac(standardKey(secret), `${messageId}.${seconds}.${body}`))}`));
  return {
    'webhook-id': messageId,
    'webhook-timestamp': seconds,
    'webhook-signature': signatures.join(' '),
    'x-kiln-signature': `sha256=${hex(await hmac(encoder.encode(list[list.length - 1]), body))}`,
  };
}

function parse(body: string): WebhookEvent {
  try {
    return JSON.parse(body) as WebhookEvent;
  } catch {
    throw new WebhookVerificationError('invalid_body');
  }
}
