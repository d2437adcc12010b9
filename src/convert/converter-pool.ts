import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loaderArgs } from '../loader-args.js';
import type { ConversionJob, ConverterReply, ConverterRequest } from './converter-protocol.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { StorageFullError, StorageUnavailableError } from '../storage/blob-store.js';
import { ConversionInputError, type ConversionFacts, type ConversionLimits } from './pipeline.js';

export type { ConversionJob } from './converter-protocol.js';

/**
 * Converts one image from the blob store into it (the input and output named by `job`);
 * `signal` aborts it (the work stops, not just the wait).
 */
export interface Converter {
  convert(job: ConversionJob, options: ConversionOptions, run: ConversionRun): Promise<ConversionFacts>;
}

export interface ConversionRun {
  signal?: AbortSignal;
  timeLimitMs: number;
  /** Whose work it is (the task's fairness key): conversions waiting for a converter are served by key in turn. */
  fairnessKey?: string;
}

export interface ConverterPoolOptions {
  /** Converter processes, and so conversions at once. */
  size: number;
  limits: ConversionLimits;
  /** Resident memory one conversion's process may reach before it is killed. */
  memoryLimitBytes: number;
  log?: (message: string, error?: unknown) => void;
}

/** Thrown when the caller's signal stopped a conversion; the process doing it was killed. */
export class ConversionAbortedError extends Error {
  constructor() {
    super('the conversion was stopped');
    this.name = 'ConversionAbortedError';
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const processScript = path.join(here, `converter-process${path.extname(fileURLToPath(import.meta.url))}`);
const MEMORY_POLL_MS = 25;
/** The share of its memory ceiling a process may keep between conversions before it is replaced. */
const RETIRE_AT_CEILING_FRACTION = 0.5;

/**
 * Resident set size of a process, from /proc (Linux); undefined where that cannot be read.
 * A synchronous read: procfs answers from memory, and it runs every few milliseconds per
 * conversion, where the asynchronous path's open/read/close round trips cost far more.
 */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** One converter child process, doing one conversion at a time. */
class ConverterProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  private nextId = 0;
  /** False once it exited or was told to die: it takes no more work. */
  usable = true;

  constructor() {
    this.child = fork(processScript, [], {
      serialization: 'advanced',
      // gc: the HEIC decoder's dropped WebAssembly heaps are released between conversions (src/convert/heic.ts).
      execArgv: [...loaderArgs(process.execArgv), '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.once('exit', () => (this.usable = false));
    // A send to a process that just died fails here, not as a throw; its exit settles the conversion.
    this.child.on('error', () => (this.usable = false));
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: ConverterReply): void => {
        if ('ready' in message) {
          this.child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null, signal: string | null): void =>
        reject(new Error(`the converter process exited while starting (${signal ?? `code ${code}`})`));
      this.child.once('message', onMessage);
      this.child.once('exit', onExit);
    });
  }

  kill(): void {
    this.usable = false;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Runs one conversion; rejects (and kills the process) on abort, time limit or memory ceiling. */
  run(
    job: ConversionJob,
    options: ConversionOptions,
    limits: ConversionLimits,
    run: { signal?: AbortSignal; timeLimitMs: number },
    memoryLimitBytes: number,
  ): Promise<ConversionFacts> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(memoryPoll);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        run.signal?.removeEventListener('abort', onAbort);
        outcome();
      };
      const stop = (error: Error): void => {
        this.kill();
        settle(() => reject(error));
      };
      const onMessage = (message: ConverterReply): void => {
        if ('ready' in message || message.id !== id) return;
        if (message.ok) {
          settle(() => resolve(message.facts));
        } else if (message.inputError) {
          const { code, message: text } = message.inputError;
          settle(() => reject(new ConversionInputError(code, text)));
        } else {
          const error = message.storageFull
            ? new StorageFullError(message.message)
            : message.storageUnavailable
              ? new StorageUnavailableError(message.message)
              : new Error(message.message);
          settle(() => reject(error));
        }
      };
      const onExit = (code: number | null, signal: string | null): void =>
        settle(() => reject(new Error(`the converter process died mid-conversion (${signal ?? `exit code ${code}`})`)));
      const onAbort = (): void => stop(new ConversionAbortedError());
      const timer = setTimeout(
        () =>
          stop(
            new ConversionInputError(
              'time_limit_exceeded',
              `the conversion ran past its ${run.timeLimitMs / 1000} s limit (KILN_CONVERT_TIME_LIMIT_SECONDS) and was stopped`,
            ),
          ),
        run.timeLimitMs,
      );
      const pid = this.child.pid!;
      const memoryPoll = setInterval(() => {
        const bytes = residentBytes(pid);
        if (bytes !== undefined && bytes > memoryLimitBytes) {
          stop(
            new ConversionInputError(
              'memory_limit_exceeded',
              `the conversion needed more than ${Math.round(memoryLimitBytes / 2 ** 20)} MiB (KILN_CONVERT_MEMORY_LIMIT_MB) and was stopped`,
            ),
          );
        }
      }, MEMORY_POLL_MS);

      if (!this.usable) return settle(() => reject(new Error('the converter process died before the conversion began')));
      if (run.signal?.aborted) return stop(new ConversionAbortedError());
      run.signal?.addEventListener('abort', onAbort, { once: true });
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      const request: ConverterRequest = { id, job, options, limits };
      this.child.send(request);
    });
  }
}

/**
 * A fixed set of converter processes. Each conversion takes one for its whole run; a
 * process killed by a cancel or a limit is replaced at once, so the slot is free again
 * within the time a new process takes to load sharp.
 */
export class ConverterPool implements Converter {
  private readonly idle: ConverterProcess[] = [];
  /**
   * Conversions waiting for a converter, by fairness key, served in turn: the worker takes
   * more tasks than it has converters (one waits beside each running one), and a quiet
   * account's task must not wait here behind a busy one's, as it did not on the queue.
   */
  private readonly waiting = new Map<string, Array<(process: ConverterProcess) => void>>();
  /** When each key was last served, as a count of conversions served (kept only for keys still waiting or recently served). */
  private readonly servedAt = new Map<string, number>();
  private served = 0;
  private readonly live = new Set<ConverterProcess>();
  private closed = false;

  constructor(private readonly options: ConverterPoolOptions) {
    for (let i = 0; i < options.size; i++) this.idle.push(this.spawn());
  }

  private spawn(): ConverterProcess {
    const process = new ConverterProcess();
    this.live.add(process);
    process.child.once('exit', () => this.live.delete(process));
    process.ready.catch((error: unknown) => this.options.log?.('a converter process failed to start', error));
    return process;
  }

  /** Pids of the live converter processes (for memory accounting). */
  pids(): number[] {
    return [...this.live].flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid]));
  }

  private acquire(key: string): Promise<ConverterProcess> {
    const process = this.idle.pop();
    if (process) {
      this.servedAt.set(key, ++this.served);
      this.forgetIdleKeys();
      return Promise.resolve(process);
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(key) ?? [];
      if (queue.length === 0) this.waiting.set(key, queue);
      queue.push(resolve);
    });
  }

  /** Keeps servedAt from growing with every key ever seen: only the most recent matter. */
  private forgetIdleKeys(): void {
    if (this.servedAt.size <= 1024) return;
    for (const key of this.servedAt.keys()) if (!this.waiting.has(key) && this.servedAt.size > 512) this.servedAt.delete(key);
  }

  /** The next waiter in turn: the first of the key served longest ago (a key never served comes first). */
  private nextWaiter(): ((process: ConverterProcess) => void) | undefined {
    let chosen: string | undefined;
    for (const key of this.waiting.keys()) {
      if (chosen === undefined || (this.servedAt.get(key) ?? -1) < (this.servedAt.get(chosen) ?? -1)) chosen = key;
    }
    if (chosen === undefined) return undefined;
    const queue = this.waiting.get(chosen)!;
    const waiter = queue.shift();
    if (queue.length === 0) this.waiting.delete(chosen);
    this.servedAt.set(chosen, ++this.served);
    return waiter;
  }

  private release(process: ConverterProcess): void {
    if (this.closed) return process.kill();
    // A process a conversion left large (a WebAssembly heap never shrinks, nor do malloc's
    // arenas much) would start the next one near its ceiling: a fresh one takes its place.
    const resident = process.child.pid === undefined ? undefined : residentBytes(process.child.pid);
    if (process.usable && resident !== undefined && resident > this.options.memoryLimitBytes * RETIRE_AT_CEILING_FRACTION) process.kill();
    let next = process;
    if (!process.usable) {
      this.live.delete(process);
      next = this.spawn();
    }
    const waiter = this.nextWaiter();
    if (waiter) waiter(next);
    else this.idle.push(next);
  }

  async convert(job: ConversionJob, options: ConversionOptions, run: ConversionRun): Promise<ConversionFacts> {
    if (this.closed) throw new Error('the converter pool is closed');
    let process = await this.acquire(run.fairnessKey ?? '');
    try {
      // One that died while idle, or while starting (say, at the OOM killer's hand), is replaced once.
      if (
        !process.usable ||
        !(await process.ready.then(
          () => true,
          () => false,
        ))
      ) {
        this.live.delete(process);
        process = this.spawn();
        await process.ready;
      }
      return await process.run(job, options, this.options.limits, run, this.options.memoryLimitBytes);
    } finally {
      this.release(process);
    }
  }

  /** Kills every converter process; conversions under way fail. */
  async close(): Promise<void> {
    this.closed = true;
    const exits = [...this.live].map(
      (p) => new Promise<void>((resolve) => (p.child.exitCode !== null || p.child.signalCode !== null ? resolve() : p.child.once('exit', () => resolve()))),
    );
    for (const p of this.live) p.kill();
    await Promise.all(exits);
  }
}
