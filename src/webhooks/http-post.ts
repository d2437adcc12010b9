import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { AddressGuard } from './address-guard.js';

export type AttemptErrorClass = 'timeout' | 'connection' | 'blocked_address' | 'invalid_url';

export interface PostOutcome {
  startedAt: Date;
  durationMs: number;
  /** The HTTP status, when a response arrived. Redirects are reported, never followed. */
  statusCode: number | null;
  retryAfter: string | undefined;
  /** The first `previewBytes` of the response body, as text. */
  bodyPreview: string | null;
  error: { class: AttemptErrorClass; message: string } | null;
}

const RESPONSE_PREVIEW_BYTES = 8 * 1024;
const BLOCKED = 'KILN_BLOCKED_ADDRESS';

class BlockedAddressError extends Error {
  readonly code = BLOCKED;
}

/**
 * A DNS lookup that refuses the whole name when any address it resolves to is refused,
 * so a name cannot smuggle a private address in beside a public one. Node calls it only
 * for names; literal IPs are judged before the request (AddressGuard.checkUrlLiteral).
 */
function guardedLookup(guard: AddressGuard): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      for (const { address } of addresses) {
        const verdict = guard.check(address);
        if (!verdict.allowed) return callback(new BlockedAddressError(`${hostname} resolves to ${address}: ${verdict.reason}`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

type Agents = { 'http:': http.Agent; 'https:': https.Agent };
const agentsByGuard = new WeakMap<AddressGuard, Agents>();

/**
 * Kept-alive connections are pooled per guard: a socket one guard let through must never
 * be reused for a request judged by a stricter one.
 */
function agentsFor(guard: AddressGuard): Agents {
  let agents = agentsByGuard.get(guard);
  if (!agents) {
    agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };
    agentsByGuard.set(guard, agents);
  }
  return agents;
}

/**
 * One webhook POST: connects only to addresses the guard allows (checked after DNS),
 * never follows a redirect, and gives up after `timeoutMs` in all (connect, headers and
 * the body preview).
 */
export function postWebhook(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: { guard: AddressGuard; timeoutMs: number },
): Promise<PostOutcome> {
  const startedAt = new Date();
  const started = performance.now();
  const outcome = (fields: Partial<PostOutcome>): PostOutcome => ({
    startedAt,
    durationMs: Math.round(performance.now() - started),
    statusCode: null,
    retryAfter: undefined,
    bodyPreview: null,
    error: null,
    ...fields,
  });

  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve(outcome({ error: { class: 'invalid_url', message: `not a URL: ${target}` } }));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.resolve(outcome({ error: { class: 'invalid_url', message: 'only http and https URLs are delivered to' } }));
  }
  const literal = options.guard.checkUrlLiteral(url);
  if (literal && !literal.allowed) {
    return Promise.resolve(outcome({ error: { class: 'blocked_address', message: literal.reason } }));
  }

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: PostOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const payload = Buffer.from(body, 'utf8');
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(payload.length) },
      agent: agentsFor(options.guard)[url.protocol as keyof Agents],
      lookup: guardedLookup(options.guard),
    });
    const timer = setTimeout(() => {
      request.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'KILN_TIMEOUT' }));
    }, options.timeoutMs);

    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === BLOCKED) return finish(outcome({ error: { class: 'blocked_address', message: error.message } }));
      if (error.code === 'KILN_TIMEOUT') return finish(outcome({ error: { class: 'timeout', message: error.message } }));
      finish(outcome({ error: { class: 'connection', message: `${error.code ?? 'error'}: ${error.message}` } }));
    });

    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        // Text as the receiver sent it, minus NUL, which Postgres text cannot hold.
        const preview = Buffer.concat(chunks).subarray(0, RESPONSE_PREVIEW_BYTES).toString('utf8').replaceAll('\u0000', '\ufffd');
        finish(outcome({ statusCode: response.statusCode ?? null, retryAfter: response.headers['retry-after'], bodyPreview: preview }));
        if (!response.complete) response.destroy();
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= RESPONSE_PREVIEW_BYTES) done();
      });
      response.on('end', done);
      // The status is known; a body cut short (or our own timeout mid-body) still leaves a result.
      response.on('error', done);
      response.on('close', done);
    });

    request.end(payload);
  });
}
