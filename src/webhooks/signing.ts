import { createHmac, randomBytes } from 'node:crypto';

/**
 * Webhook signatures. Kiln signs each delivery two ways:
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`),
 *   HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with the base64-decoded part of a
 *   `whsec_` secret; several active secrets (during a rotation) give space-separated entries;
 * - `X-Kiln-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the secret
 *   string exactly as shown to the user, for receivers written like the common examples.
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

function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('webhook secrets start with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
  'x-kiln-signature': string;
}

/**
 * Headers for one delivery attempt. `secrets` lists every active secret, newest first;
 * the `X-Kiln-Signature` uses the newest alone.
 */
export function signDelivery(secrets: string[], messageId: string, timestamp: Date, body: string): SignedHeaders {
  const [newest] = secrets;
  if (!newest) throw new Error('a delivery needs at least one signing secret');
  const seconds = Math.floor(timestamp.getTime() / 1000).toString();
  const signed = `${messageId}.${seconds}.${body}`;
  const signatures = secrets.map((secret) => `v1,${createHmac('sha256', secretKey(secret)).update(signed).digest('base64')}`);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': seconds,
    'webhook-signature': signatures.join(' '),
    'x-kiln-signature': `sha256=${createHmac('sha256', Buffer.from(newest, 'utf8')).update(body).digest('hex')}`,
  };
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
