import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './kiln-api.js';
import { KilnError } from './errors.js';
import { readEventStream, type StreamedEvent } from './sse.js';

export type Conversion = components['schemas']['Conversion'];
export type Job = components['schemas']['Job'];
export type Problem = components['schemas']['Problem'];
export type Preset = components['schemas']['Preset'];
/** A conversion's options (and its webhook fields, `preset`), as `POST /v1/conversions` takes them. */
export type ConversionOptions = Omit<components['schemas']['ConversionForm'], 'file'>;
/** A job's shared options, webhook fields and `concurrency`. */
export type JobOptions = Omit<NonNullable<paths['/v1/jobs']['post']['requestBody']>['content']['multipart/form-data'], 'file'>;

/**
 * An image to convert: a path (Node), bytes, a Blob or File, a web or Node readable
 * stream, or a URL (`http(s)://…` as text or a URL) that Kiln fetches itself.
 */
export type Input = string | URL | Uint8Array | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export interface KilnOptions {
  /** Kiln's base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  apiKey: string;
  /** Tries of one call when Kiln answers 429 or 503, or the connection fails (default 5). */
  maxTries?: number;
  /** The longest a Retry-After is waited, in seconds (default 60); past it the problem is thrown. */
  maxRetryAfterSeconds?: number;
  fetch?: typeof fetch;
}

export interface WaitOptions {
  /** Each event of the object as it is stored (type, and the body a webhook of it carries). */
  onProgress?: (event: { id: string; type: string; data: Record<string, unknown> }) => void;
  signal?: AbortSignal;
  /** Milliseconds before the wait gives up with KilnError `timeout` (default: none). */
  timeout?: number;
}

export type Page<T> = { data: T[]; next_cursor: string | null };

/** What a call sends: JSON text or a form (a function makes a fresh one for each try). */
type RequestBody = string | FormData;

/** The statuses a conversion or job ends in. */
export const FINAL_STATUSES: readonly string[] = ['succeeded', 'failed', 'cancelled'];
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason as Error)), { once: true });
  });

/** Kiln's API for Node 20+ and browsers: typed calls, waiting, downloads, paging, retries. */
export class Kiln {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  /** Every operation of the API, typed from its OpenAPI document (openapi-fetch), for what the helpers do not cover. */
  readonly api: Client<paths>;

  constructor(private readonly options: KilnOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.api = createClient<paths>({ baseUrl: this.base, headers: { authorization: `Bearer ${options.apiKey}` }, fetch: this.fetch });
  }

  /**
   * One call: sent again on 429 and 503 after their Retry-After, and on a failed connection,
   * up to `maxTries`. A call that creates something carries one Idempotency-Key for all its
   * tries, so a retry after a lost answer never makes a second one.
   */
  async request(
    method: string,
    path: string,
    init: {
      body?: RequestBody | (() => RequestBody);
      /** A JSON body: sent as text with its content type (in place of `body`). */
      json?: unknown;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      /** False for the few POSTs Kiln does not replay (creating an API key): sent without an Idempotency-Key, and never again after a lost answer. */
      idempotent?: boolean;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.apiKey}`,
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    };
    const body = init.json === undefined ? init.body : JSON.stringify(init.json);
    const idempotent = method === 'POST' && init.idempotent !== false;
    if (idempotent && !headers['idempotency-key']) headers['idempotency-key'] = crypto.randomUUID();
    const tries = this.options.maxTries ?? 5;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetch(`${this.base}${path}`, { method, headers, body: typeof body === 'function' ? body() : body, signal: init.signal });
      } catch (error) {
        // A POST without a key may have been handled: sending it again could make a second one.
        const unsafe = method === 'POST' && !idempotent;
        if (init.signal?.aborted || attempt >= tries || unsafe) throw new KilnError(0, 'network_error', `${method} ${path}: ${(error as Error).message}`);
        await sleep(Math.min(250 * 2 ** attempt, 5000), init.signal);
        continue;
      }
      if ((response.status === 429 || response.status === 503) && attempt < tries) {
        const wait = Number(response.headers.get('retry-after') ?? 1);
        if (Number.isFinite(wait) && wait <= (this.options.maxRetryAfterSeconds ?? 60)) {
          await response.body?.cancel();
          await sleep(Math.max(0, wait) * 1000, init.signal);
          continue;
        }
      }
      if (response.status >= 400) throw await problemOf(response);
      return response;
    }
  }

  async json<T>(method: string, path: string, init: Parameters<Kiln['request']>[2] = {}): Promise<T> {
    return (await (await this.request(method, path, init)).json()) as T;
  }

  /**
   * Converts one image: uploaded (bytes, a file, a stream), or fetched by Kiln from a URL.
   * Answers the conversion as accepted; `wait` it for the end, or pass `{ wait: true }`.
   */
  async convert(input: Input, options: ConversionOptions, { wait = false, ...waitOptions }: WaitOptions & { wait?: boolean } = {}): Promise<Conversion> {
    const url = sourceUrl(input);
    const conversion = url
      ? await this.json<Conversion>('POST', '/v1/conversions', { json: { ...options, source_url: url }, signal: waitOptions.signal })
      : await this.sendForm<Conversion>('/v1/conversions', options, [await fileOf(input)], waitOptions.signal);
    return wait ? this.wait(conversion, waitOptions) : conversion;
  }

  /** One job of many images (each uploaded, or fetched from its URL), with options they share. */
  async createJob(inputs: readonly Input[], options: JobOptions, { wait = false, ...waitOptions }: WaitOptions & { wait?: boolean } = {}): Promise<Job> {
    const urls = inputs.map(sourceUrl);
    let job: Job;
    if (urls.every((url) => url !== undefined)) {
      job = await this.json<Job>('POST', '/v1/jobs', { json: { ...options, inputs: urls.map((source_url) => ({ source_url })) }, signal: waitOptions.signal });
    } else {
      if (urls.some((url) => url !== undefined)) throw new KilnError(0, 'invalid_input', 'a job takes uploads or URLs, not both');
      job = await this.sendForm<Job>('/v1/jobs', options, await Promise.all(inputs.map(fileOf)), waitOptions.signal);
    }
    return wait ? this.wait(job, waitOptions) : job;
  }

  /** Keeps `options` under `name`: the preset of that name replaced, or a new one made. */
  async savePreset(name: string, options: Record<string, unknown>): Promise<Preset> {
    const path = `/v1/presets/${encodeURIComponent(name)}`;
    try {
      return await this.json<Preset>('PUT', path, { json: { options } });
    } catch (error) {
      if (!(error instanceof KilnError && error.status === 404)) throw error;
      return this.json<Preset>('POST', '/v1/presets', { json: { name, options } });
    }
  }

  getConversion(id: string): Promise<Conversion> {
    return this.json('GET', `/v1/conversions/${id}`);
  }

  getJob(id: string): Promise<Job> {
    return this.json('GET', `/v1/jobs/${id}`);
  }

  /**
   * Waits for a conversion or job to end and answers it as it ended. Follows its event
   * stream (each event to `onProgress`), resuming after the last event seen when the
   * connection drops; after three drops in a row it polls instead.
   */
  async wait<T extends { id: string }>(target: T | string, options: WaitOptions = {}): Promise<T> {
    const id = typeof target === 'string' ? target : target.id;
    const kind = id.startsWith('job_') ? 'job' : 'conversion';
    const path = kind === 'job' ? `/v1/jobs/${id}` : `/v1/conversions/${id}`;
    const signal = options.timeout ? AbortSignal.any([AbortSignal.timeout(options.timeout), ...(options.signal ? [options.signal] : [])]) : options.signal;
    const read = () => this.json<T & { status: string }>('GET', path, { signal });
    try {
      let lastEventId: string | undefined;
      for (let drops = 0; drops < 3;) {
        const current = await read();
        if (FINAL_STATUSES.includes(current.status)) return current;
        try {
          const response = await this.request('GET', `${path}/events`, { signal, headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
          if (response.status === 204 || !response.body) continue;
          for await (const event of readEventStream(response.body)) {
            lastEventId = event.id;
            drops = 0;
            options.onProgress?.({ id: event.id, type: event.type, data: (JSON.parse(event.data) as { data: Record<string, unknown> }).data });
          }
        } catch (error) {
          if (signal?.aborted || (error instanceof KilnError && error.status >= 400 && error.status !== 503)) throw error;
        }
        drops++;
      }
      for (;;) {
        const current = await read();
        if (FINAL_STATUSES.includes(current.status)) return current;
        await sleep(1000, signal);
      }
    } catch (error) {
      if (signal?.aborted && !options.signal?.aborted) throw new KilnError(0, 'timeout', `${id} did not end within ${options.timeout} ms`);
      throw error;
    }
  }

  /**
   * The account's events as they are stored, from now on (or after `lastEventId`), for as
   * long as the caller reads or until `signal` aborts. A dropped connection is opened again
   * after the last event seen, so none is missed or repeated. Each comes as sent: `data` is
   * the exact JSON text a webhook of it carries.
   */
  async *streamEvents(
    options: {
      types?: readonly string[];
      subjectId?: string;
      lastEventId?: string;
      signal?: AbortSignal;
      /** Called each time the stream is open: from then on, no event is missed. */
      onOpen?: () => void;
    } = {},
  ): AsyncGenerator<StreamedEvent> {
    const query = new URLSearchParams();
    if (options.types?.length) query.set('type', options.types.join(','));
    if (options.subjectId) query.set('subject_id', options.subjectId);
    let lastEventId = options.lastEventId;
    for (let drops = 0; ;) {
      try {
        const response = await this.request('GET', `/v1/events/stream${query.size ? `?${query.toString()}` : ''}`, {
          signal: options.signal,
          headers: lastEventId ? { 'last-event-id': lastEventId } : {},
        });
        if (!response.body) throw new KilnError(0, 'network_error', 'the event stream had no body');
        options.onOpen?.();
        for await (const event of readEventStream(response.body)) {
          lastEventId = event.id;
          drops = 0;
          yield event;
        }
      } catch (error) {
        if (options.signal?.aborted || (error instanceof KilnError && error.status >= 400 && error.status !== 503)) throw error;
      }
      drops++;
      await sleep(Math.min(250 * 2 ** drops, 5000), options.signal);
    }
  }

  /**
   * A conversion's output (or its `outputs[index]`): the bytes, or written to `dest` (a
   * path, in Node) when given.
   */
  async download(conversion: Conversion | string, dest?: string, index = 0): Promise<Uint8Array> {
    const current = typeof conversion === 'string' ? await this.getConversion(conversion) : conversion;
    const link = index === 0 ? current.download_url : current.outputs?.[index]?.download_url;
    if (!link) throw new KilnError(0, 'no_output', `${current.id} has no output ${index} (status ${current.status})`);
    const response = await this.fetch(link);
    if (!response.ok) throw await problemOf(response);
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (dest) await (await import('node:fs/promises')).writeFile(dest, bytes);
    return bytes;
  }

  /** Every item of a list, page after page: `for await (const c of kiln.list('/v1/conversions', { status: 'failed' }))`. */
  async *list<T = unknown>(path: ListPath, query: Record<string, string | number | undefined> = {}): AsyncGenerator<T> {
    let cursor: string | null = null;
    do {
      const entries = Object.entries({ ...query, limit: query.limit ?? 100, ...(cursor ? { cursor } : {}) });
      const params = new URLSearchParams(entries.flatMap(([k, v]): Array<[string, string]> => (v === undefined ? [] : [[k, String(v)]])));
      const page: Page<T> = await this.json<Page<T>>('GET', `${path}?${params.toString()}`);
      yield* page.data;
      cursor = page.next_cursor;
    } while (cursor);
  }

  private async sendForm<T>(path: string, options: object, files: Blob[], signal?: AbortSignal): Promise<T> {
    const form = (): FormData => {
      const body = new FormData();
      for (const [name, value] of Object.entries(options as Record<string, unknown>)) {
        if (value === undefined) continue;
        body.set(name, typeof value === 'string' ? value : JSON.stringify(value));
      }
      for (const file of files) body.append('file', file, (file as File).name || 'image');
      return body;
    };
    return this.json<T>('POST', path, { body: form, signal });
  }
}

/** The list paths `list` pages through, with their `{id}` filled in (`/v1/jobs/job_…/conversions`). */
export type ListPath = {
  [P in keyof paths]: paths[P] extends { get: { parameters: { query?: { cursor?: string } } } } ? Filled<P> : never;
}[keyof paths];

/** A path template with each `{name}` as any text. */
type Filled<P extends string> = P extends `${infer Head}{${string}}${infer Tail}` ? `${Head}${string}${Filled<Tail>}` : P;

function sourceUrl(input: Input): string | undefined {
  if (input instanceof URL) return input.href;
  return typeof input === 'string' && /^https?:\/\//i.test(input) ? input : undefined;
}

/** The input as a file to upload (a path read in Node, a stream gathered). */
async function fileOf(input: Input): Promise<Blob> {
  if (input instanceof Blob) return input;
  // The DOM's typing (the dashboard's build) refuses bytes that might sit on a SharedArrayBuffer; Node's does not.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  if (input instanceof Uint8Array) return new File([input as Uint8Array<ArrayBuffer>], 'image');
  if (typeof input === 'string') {
    const { readFile } = await import('node:fs/promises');
    return new File([await readFile(input)], input.split(/[\\/]/).pop() || 'image');
  }
  const chunks: Array<Uint8Array<ArrayBuffer>> = [];
  const iterable = input instanceof ReadableStream ? streamChunks(input) : (input as AsyncIterable<Uint8Array>);
  for await (const chunk of iterable) chunks.push(chunk as Uint8Array<ArrayBuffer>);
  return new File(chunks, 'image');
}

async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    yield value;
  }
}

async function problemOf(response: Response): Promise<KilnError> {
  const text = await response.text();
  try {
    const problem = JSON.parse(text) as Record<string, unknown>;
    const code = typeof problem.code === 'string' ? problem.code : 'http_error';
    return new KilnError(response.status, code, typeof problem.detail === 'string' ? problem.detail : text, problem);
  } catch {
    return new KilnError(response.status, 'http_error', text.slice(0, 500) || `HTTP ${response.status}`);
  }
}
