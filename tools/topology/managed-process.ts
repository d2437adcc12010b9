import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';

export interface ProcessSpec {
  /** Also the log file's name: `<logDir>/<name>.log`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves true once the process serves what it is for (a port answers, a query works). */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** What asks it to stop cleanly: SIGTERM unless it means something slower (Postgres: SIGINT, a fast shutdown). */
  stopSignal?: NodeJS.Signals;
  /** How long a clean stop may take before SIGKILL. */
  stopTimeoutMs?: number;
}

/**
 * One process of the topology: started in a process group of its own, its stdout and
 * stderr appended to its own log file, stopped with SIGTERM (then SIGKILL), killed
 * outright, or started again with the same settings.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  readonly logFile: string;

  constructor(
    readonly spec: ProcessSpec,
    logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true });
    this.logFile = path.join(logDir, `${spec.name}.log`);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** How the last run ended: its exit code, or null while running or when a signal ended it. */
  get exitCode(): number | null {
    return this.child?.exitCode ?? null;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.log.write(`--- ${new Date().toISOString()} starting ${this.spec.command} ${this.spec.args.join(' ')}\n`);
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    const exited = new Promise<never>((_, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`${this.name} exited (${signal ?? code}) while starting; see ${this.logFile}`)));
    });
    exited.catch(() => undefined);
    const deadline = Date.now() + (this.spec.readyTimeoutMs ?? 120_000);
    for (;;) {
      const ready = await Promise.race([this.spec.ready().catch(() => false), exited]);
      if (ready) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${this.name} was not ready within ${this.spec.readyTimeoutMs ?? 120_000} ms; see ${this.logFile}`);
      }
      await Promise.race([new Promise((r) => setTimeout(r, 200)), exited]);
    }
  }

  /** The clean stop an orchestrator asks for; SIGKILL to the group if it has not exited in time. */
  async stop(): Promise<void> {
    await this.signalAndWait(this.spec.stopSignal ?? 'SIGTERM', this.spec.stopTimeoutMs ?? 60_000);
  }

  /** SIGKILL to the whole process group: no chance to clean up, as when a machine dies. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL', 10_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const send = (s: NodeJS.Signals): void => {
      try {
        // The group: a Kiln process's converters, Postgres's backends.
        process.kill(s === 'SIGKILL' ? -child.pid! : child.pid!, s);
      } catch {
        // Already gone.
      }
    };
    send(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    if ((await Promise.race([exited, late])) === 'late') {
      this.log?.write(`--- ${new Date().toISOString()} did not stop within ${timeoutMs} ms: SIGKILL\n`);
      send('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
    this.log?.write(`--- ${new Date().toISOString()} stopped (${signal})\n`);
    this.log?.end();
  }
}
