import { createHmac, randomBytes } from 'node:crypto';

/**
 * Webhook signatures. Kiln signs each delivery two ways:
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`),
 *   HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with the base64-decoded part of a
 *   `whsec_` secret; several active secrets (during a rotation) give space-separated entries;
 * - `X-Kiln-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the secret
 *   string exactly as shown to the user, for receivers written like the common examples;
 * - optionally, per endpoint, one more header in the shape another service's receivers check.
 */

const SECRET_PREFIX = 'whsec_';

export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * Whether a secret a user brings can sign as Kiln's own do: `whsec_` and the base64 of 24
 * to 64 random bytes (Standard Webhooks' range; `svix` and `standardwebhooks` accept it).
 */
export function isWellFormedSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return false;
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

/**
 * The HMAC key of Standard Webhooks' signature: the bytes a `whsec_` secret encodes, or, for
 * a plain-string secret (allowed beside an extra signature header), its UTF-8 bytes.
 */
function standardKey(secret: string): Buffer {
  return isWellFormedSecret(secret) ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/**
 * An extra signature header in the shape a receiver written for another service checks.
 * Its key is the secret string exactly as shown (its UTF-8 bytes, `whsec_` included), as
 * those receivers' published code uses it.
 */
export interface SignatureScheme {
  /** The header's name, e.g. `X-KoalaPic-Signature`. */
  header: string;
  algorithm: 'sha256' | 'sha512' | 'sha1';
  /** What is signed: the raw body, or `<unix seconds>.<body>`. */
  signed_content: 'body' | 'timestamp.body';
  encoding: 'hex' | 'base64';
  /** Put before each signature, e.g. `sha256=`. */
  prefix: string;
  /** `plain`: the signature alone; `timestamped`: `t=<unix seconds>,v1=<signature>` (one v1 per live secret). */
  form: 'plain' | 'timestamped';
  /** A header that carries the unix timestamp too (e.g. `convertly-timestamp`), or null. */
  timestamp_header: string | null;
}

/** Kiln's own extra header, for receivers written like the common examples. */
const KILN_SIGNATURE: SignatureScheme = {
  header: 'x-kiln-signature',
  algorithm: 'sha256',
  signed_content: 'body',
  encoding: 'hex',
  prefix: 'sha256=',
  form: 'plain',
  timestamp_header: null,
};

function extraSignatureHeaders(scheme: SignatureScheme, secrets: string[], seconds: string, body: string): Record<string, string> {
  const content = scheme.signed_content === 'body' ? body : `${seconds}.${body}`;
  const sign = (secret: string): string => scheme.prefix + createHmac(scheme.algorithm, Buffer.from(secret, 'utf8')).update(content).digest(scheme.encoding);
  const headers: Record<string, string> = {};
  if (scheme.form === 'timestamped') {
    // The timestamped form has room for a signature per live secret, as Stripe's receivers expect.
    headers[scheme.header.toLowerCase()] = [`t=${seconds}`, ...secrets.map((secret) => `v1=${sign(secret)}`)].join(',');
  } else {
    // One value holds one signature: the oldest live secret's, the one a receiver that holds a
    // single secret still has until the overlap ends (see the README's rotation section).
    headers[scheme.header.toLowerCase()] = sign(secrets[secrets.length - 1]!);
  }
  if (scheme.timestamp_header) headers[scheme.timestamp_header.toLowerCase()] = seconds;
  return headers;
}

export interface SignedHeaders extends Record<string, string> {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
  'x-kiln-signature': string;
}

/**
 * Headers for one delivery attempt. `secrets` lists every live secret, newest first:
 * `webhook-signature` carries one entry per secret; single-value headers
 * (`X-Kiln-Signature`, an extra header in plain form) sign with the oldest.
 */
export function signDelivery(secrets: string[], messageId: string, timestamp: Date, body: string, extra: SignatureScheme | null = null): SignedHeaders {
  if (secrets.length === 0) throw new Error('a delivery needs at least one signing secret');
  const seconds = Math.floor(timestamp.getTime() / 1000).toString();
  const signed = `${messageId}.${seconds}.${body}`;
  const signatures = secrets.map((secret) => `v1,${createHmac('sha256', standardKey(secret)).update(signed).digest('base64')}`);
  return {
    ...(extra ? extraSignatureHeaders(extra, secrets, seconds, body) : {}),
    ...extraSignatureHeaders(KILN_SIGNATURE, secrets, seconds, body),
    'webhook-id': messageId,
    'webhook-timestamp': seconds,
    'webhook-signature': signatures.join(' '),
  } as SignedHeaders;
}

/** A signing secret with the one it replaced, which keeps signing until its overlap ends. */
export interface RotatingSecret {
  secret: string;
  previousSecret: string | null;
  previousExpiresAt: Date | null;
}

/** The secrets a delivery is signed with right now, newest first. */
export function activeSecrets(set: RotatingSecret, now: Date): string[] {
  const previousLive = set.previousSecret && set.previousExpiresAt && set.previousExpiresAt.getTime() > now.getTime();
  return previousLive ? [set.secret, set.previousSecret!] : [set.secret];
}

/** A new secret; the current one stays valid for `overlapSeconds`. */
export function rotateSecret(set: RotatingSecret, now: Date, overlapSeconds: number, next: string = generateWebhookSecret()): RotatingSecret {
  return { secret: next, previousSecret: set.secret, previousExpiresAt: new Date(now.getTime() + overlapSeconds * 1000) };
}
