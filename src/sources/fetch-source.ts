import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressGuard } from '../net/address-guard.js';
import { agentsFor, BLOCKED_ADDRESS, guardedLookup, type Agents } from '../net/guarded-connection.js';
import { SNIFF_BYTES } from '../convert/sniff.js';

/**
 * Fetching a conversion's `source_url`: GET through the address guard (every redirect
 * hop judged again, literal and after DNS), at most `maxRedirects` hops, the body written
 * to `target` and cut off past `maxBytes`, the whole fetch bounded by `timeoutMs`.
 */

export interface SourceLimits {
  guard: AddressGuard;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
}

/** Why a fetch failed, as the conversion's error code says it; `retryable` is the retry policy's to act on. */
export type SourceFailureCode = 'source_unreachable' | 'source_http_error' | 'source_too_large' | 'blocked_address' | 'invalid_url';

export class SourceFetchError extends Error {
  constructor(
    readonly code: SourceFailureCode,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SourceFetchError';
  }
}

export interface FetchedSource {
  bytes: number;
  contentType: string | undefined;
  /** The first bytes, for a look at the format. */
  head: Buffer;
  /** Where the bytes came from after redirects. */
  finalUrl: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_URL_LENGTH = 2048;

/** A URL a source may be fetched from: http(s), no credentials, no literal address the guard refuses. */
export function checkSourceUrl(raw: string, guard: AddressGuard): URL {
  if (raw.length > MAX_URL_LENGTH) throw new SourceFetchError('invalid_url', `a source URL is at most ${MAX_URL_LENGTH} characters`, false);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SourceFetchError('invalid_url', `not an absolute URL: ${raw.slice(0, 200)}`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SourceFetchError('invalid_url', 'only http and https sources are fetched', false);
  if (url.username || url.password) throw new SourceFetchError('invalid_url', 'a source URL may not carry credentials', false);
  const literal = guard.checkUrlLiteral(url);
  if (literal && !literal.allowed) throw new SourceFetchError('blocked_address', `${url.host}: ${literal.reason}`, false);
  return url;
}

export async function fetchSource(raw: string, target: string, limits: SourceLimits): Promise<FetchedSource> {
  const deadline = Date.now() + limits.timeoutMs;
  let url = checkSourceUrl(raw, limits.guard);
  for (let hop = 0; ; hop++) {
    const response = await get(url, limits, deadline);
    const status = response.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      response.destroy();
      const location = response.headers.location;
      if (!location) throw new SourceFetchError('source_http_error', `${url.host} answered ${status} without a Location`, false, status);
      if (hop >= limits.maxRedirects) throw new SourceFetchError('source_http_error', `more than ${limits.maxRedirects} redirects`, false, status);
      url = checkSourceUrl(new URL(location, url).toString(), limits.guard);
      continue;
    }
    if (status < 200 || status >= 300) {
      response.destroy();
      // A server error or throttling may pass: the retry policy tries again. Anything else is the URL's answer.
      const retryable = status >= 500 || status === 429 || status === 408;
      throw new SourceFetchError('source_http_error', `${url.host} answered ${status}`, retryable, status);
    }
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      response.destroy();
      throw new SourceFetchError('source_too_large', `the source is ${declared} bytes; the limit is ${limits.maxBytes}`, false);
    }
    const { bytes, head } = await save(response, target, limits, deadline);
    return { bytes, head, contentType: response.headers['content-type'], finalUrl: url.toString() };
  }
}

function remaining(deadline: number, limits: SourceLimits): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new SourceFetchError('source_unreachable', `no complete answer within ${limits.timeoutMs} ms`, true);
  return left;
}

function get(url: URL, limits: SourceLimits, deadline: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, {
      agent: agentsFor(limits.guard)[url.protocol as keyof Agents],
      lookup: guardedLookup(limits.guard),
      headers: { 'user-agent': 'Kiln (source fetch)', accept: 'image/*,*/*;q=0.5' },
    });
    const timer = setTimeout(() => request.destroy(Object.assign(new Error('timeout'), { code: 'KILN_TIMEOUT' })), remaining(deadline, limits));
    request.on('response', (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === BLOCKED_ADDRESS) return reject(new SourceFetchError('blocked_address', error.message, false));
      if (error.code === 'KILN_TIMEOUT')
        return reject(new SourceFetchError('source_unreachable', `${url.host} did not answer within ${limits.timeoutMs} ms`, true));
      reject(new SourceFetchError('source_unreachable', `${url.host}: ${error.code ?? 'error'} ${error.message}`, true));
    });
  });
}

/** Writes the body to `target`, stopping at once past the limit or the deadline (the file is removed then). */
function save(response: http.IncomingMessage, target: string, limits: SourceLimits, deadline: number): Promise<{ bytes: number; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const file = createWriteStream(target);
    const head: Buffer[] = [];
    let bytes = 0;
    let failed = false;
    const fail = (error: SourceFetchError): void => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      response.destroy();
      file.destroy();
      file.once(
        'close',
        () =>
          void rm(target, { force: true }).then(
            () => reject(error),
            () => reject(error),
          ),
      );
    };
    const timer = setTimeout(
      () => fail(new SourceFetchError('source_unreachable', `the body did not arrive within ${limits.timeoutMs} ms`, true)),
      Math.max(1, deadline - Date.now()),
    );
    response.on('data', (chunk: Buffer) => {
      if (bytes < SNIFF_BYTES) head.push(chunk.subarray(0, SNIFF_BYTES - bytes));
      bytes += chunk.length;
      if (bytes > limits.maxBytes) return fail(new SourceFetchError('source_too_large', `the source is larger than ${limits.maxBytes} bytes`, false));
      if (!file.write(chunk)) {
        response.pause();
        file.once('drain', () => response.resume());
      }
    });
    response.on('end', () => {
      if (failed) return;
      if (!response.complete) return fail(new SourceFetchError('source_unreachable', 'the connection closed before the body ended', true));
      clearTimeout(timer);
      file.end(() => resolve({ bytes, head: Buffer.concat(head) }));
    });
    response.on('error', () => fail(new SourceFetchError('source_unreachable', 'the connection broke while the body arrived', true)));
    response.on('aborted', () => fail(new SourceFetchError('source_unreachable', 'the connection broke while the body arrived', true)));
    file.on('error', (error) => fail(new SourceFetchError('source_unreachable', `could not write the source: ${error.message}`, true)));
  });
}
