import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import jsonata from 'jsonata';
import { loaderArgs } from '../loader-args.js';
import { describeTemplateError, type TemplateReply, type TemplateRequest } from './template-protocol.js';

/**
 * Payload templates: JSONata expressions over Kiln's envelope that give the body a receiver
 * expects. JSONata is declarative and has no I/O; what it can still do is loop or build
 * something huge, so rendering happens in a child process with a small heap, one render at
 * a time, and a render that outlives its time has the process killed (a new one starts for
 * the next). A worker thread was not enough: a template that filled its heap aborted the
 * whole process.
 */

export const MAX_TEMPLATE_CHARS = 16 * 1024;

export interface TemplateLimits {
  timeoutMs: number;
  maxOutputBytes: number;
  memoryMb: number;
}

export type RenderResult = { ok: true; body: string } | { ok: false; message: string };

/** The syntax error of a template, or null when it parses. */
export function templateSyntaxError(template: string): string | null {
  if (template.length > MAX_TEMPLATE_CHARS) return `a template is at most ${MAX_TEMPLATE_CHARS} characters`;
  try {
    jsonata(template);
    return null;
  } catch (error) {
    return describeTemplateError(error);
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const processScript = path.join(here, `template-process${path.extname(fileURLToPath(import.meta.url))}`);

interface Pending {
  request: TemplateRequest;
  resolve: (result: RenderResult) => void;
}

/** Renders templates in one child process, one at a time, started when first needed and again after it was killed. */
export class TemplateRenderer {
  private child: ChildProcess | undefined;
  private readonly queue: Pending[] = [];
  private current: { pending: Pending; timer: NodeJS.Timeout | undefined } | undefined;
  private nextId = 1;

  constructor(private readonly limits: TemplateLimits) {}

  /** Renders `template` over `input`; never throws: a failure is a result with its message. */
  render(template: string, input: unknown): Promise<RenderResult> {
    return new Promise((resolve) => {
      this.queue.push({ request: { id: this.nextId++, template, input, maxBytes: this.limits.maxOutputBytes }, resolve });
      this.pump();
    });
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
  }

  private pump(): void {
    if (this.current) return;
    const pending = this.queue.shift();
    if (!pending) return;
    const child = this.child ?? this.start();
    // Held open while a render is under way, and only then: an idle renderer keeps no process alive.
    child.channel?.ref();
    // The clock starts once the process is ready: starting one is not the template's time.
    this.current = { pending, timer: undefined };
    const send = (): void => {
      if (this.current?.pending !== pending) return;
      this.current.timer = setTimeout(() => this.abandon(`the template ran longer than ${this.limits.timeoutMs} ms`), this.limits.timeoutMs);
      child.send(pending.request);
    };
    if (this.ready.has(child)) send();
    else this.onReady.set(child, send);
  }

  private readonly ready = new WeakSet<ChildProcess>();
  private readonly onReady = new WeakMap<ChildProcess, () => void>();

  private start(): ChildProcess {
    const child = fork(processScript, [], {
      execArgv: [...loaderArgs(process.execArgv), `--max-old-space-size=${this.limits.memoryMb}`],
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    child.unref();
    child.channel?.unref();
    child.on('message', (reply: TemplateReply) => {
      if ('ready' in reply) {
        this.ready.add(child);
        this.onReady.get(child)?.();
        return;
      }
      if (this.current?.pending.request.id !== reply.id) return;
      this.finish('body' in reply ? { ok: true, body: reply.body } : { ok: false, message: reply.error });
    });
    // A send to a process that just died fails here; its exit settles the render.
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      // V8 ends a process out of heap with an abort.
      const why = signal === 'SIGABRT' || code === 134 ? `the template needed more than ${this.limits.memoryMb} MiB` : 'the template process stopped';
      this.finish({ ok: false, message: why });
    });
    this.child = child;
    return child;
  }

  /** Kills the process under a render that ran too long; the next render starts a new one. */
  private abandon(message: string): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
    this.finish({ ok: false, message });
  }

  private finish(result: RenderResult): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    clearTimeout(current.timer);
    this.child?.channel?.unref();
    current.pending.resolve(result);
    this.pump();
  }
}
