import { MAX_RATE_LIMIT } from './contract/schemas.js';
import { parseBody } from './json-body.js';
import { z } from 'zod';
import { isWellFormedSecret, type SignatureScheme } from '../signing/webhook-signature.js';
import { ApiError } from '../problem.js';

const MAX_CUSTOM_HEADERS = 20;
const MAX_CUSTOM_HEADER_BYTES = 4096;
/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
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

/** `whsec_` and the base64 of 24 to 64 bytes, as the document states it (isWellFormedSecret checks the same). */
export const WHSEC_PATTERN =
  '^whsec_(([A-Za-z0-9+/]{4}){8,21}|([A-Za-z0-9+/]{4}){8,20}([A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)|([A-Za-z0-9+/]{4}){21}[A-Za-z0-9+/]{2}==)$';

/** A secret a user brings, as documented: a whsec_ one, or (where an extra signature header is set) a plain string. */
export const broughtSecret = z.string().regex(new RegExp(`${WHSEC_PATTERN}|${PLAIN_SECRET.source}`));

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
    secret: broughtSecret
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
  // The secret's shape is checked by checkBroughtSecret, which names its own code (invalid_secret).
  const { secret, overlap_seconds: overlapSeconds } = parseBody(rotateBody.extend({ secret: z.string().optional() }), body);
  return { secret: secret === undefined ? undefined : checkBroughtSecret(secret, plainAllowed), overlapSeconds };
}

/** A receiver's throttle as an endpoint or the webhook_url settings take it: deliveries per second, or null for none. */
export const rateLimitBody = z
  .number({ message: 'rate_limit must be a number' })
  .int('rate_limit must be a whole number')
  .min(1, 'rate_limit must be at least 1')
  .max(MAX_RATE_LIMIT, `rate_limit must be at most ${MAX_RATE_LIMIT}`)
  .nullable()
  .describe('Deliveries per second it takes at most (over it they wait their turn, in order, without failing); null: as fast as they come');
