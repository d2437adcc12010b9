import http from 'node:http';
import https from 'node:https';
import type { AddressGuard } from '../net/address-guard.js';
import { agentsFor, BLOCKED_ADDRESS, guardedLookup, type Agents } from '../net/guarded-connection.js';

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
/** Builds a request's outcome, timed from now: anything not given is empty. */
function outcomeFromNow(): (fields: Partial<PostOutcome>) => PostOutcome {
  const startedAt = new Date();
  const began = performance.now();
  return (fields) => ({
    startedAt,
    durationMs: Math.round(performance.now() - began),
    statusCode: null,
    retryAfter: undefined,
    bodyPreview: null,
    error: null,
    ...fields,
  });
}

interface PostOptions {
  guard: AddressGuard;
  timeoutMs: number;
}

/**
 * One webhook POST: connects only to addresses the guard allows (checked after DNS),
 * never follows a redirect, and gives up after `timeoutMs` in all (connect, headers and
 * the body preview).
 */
export function postWebhook(target: string, headers: Record<string, string>, body: string, options: PostOptions): Promise<PostOutcome> {
  const outcome = outcomeFromNow();

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

  const sent = post(url, headers, body, options);
  // A kept-alive socket the receiver closed as this request went out fails before any answer:
  // that request never reached it, so it goes again once on a fresh connection (the race
  // Node's documentation describes for `request.reusedSocket`).
  return sent.then((result) => (result.staleSocket ? post(url, headers, body, options) : result)).then(({ staleSocket: _stale, ...result }) => result);
}

function post(url: URL, headers: Record<string, string>, body: string, options: PostOptions): Promise<PostOutcome & { staleSocket?: boolean }> {
  const outcome = outcomeFromNow();
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    const finish = (result: PostOutcome & { staleSocket?: boolean }): void => {
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
      if (error.code === BLOCKED_ADDRESS) return finish(outcome({ error: { class: 'blocked_address', message: error.message } }));
      if (error.code === 'KILN_TIMEOUT') return finish(outcome({ error: { class: 'timeout', message: error.message } }));
      const stale = request.reusedSocket && !answered && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      finish({
        ...outcome({ error: { class: 'connection', message: `${error.code ?? 'error'}: ${error.message}` } }),
        ...(stale ? { staleSocket: true } : {}),
      });
    });

    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        // Text as the receiver sent it, minus NUL, which Postgres text cannot hold.
        const preview = textPreview(Buffer.concat(chunks), RESPONSE_PREVIEW_BYTES);
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

/** The first `maxBytes` of `bytes` as text a Postgres text column takes (NUL replaced). */
export function textPreview(bytes: Buffer, maxBytes: number): string {
  return bytes.subarray(0, maxBytes).toString('utf8').replaceAll('\u0000', '\ufffd');
}
