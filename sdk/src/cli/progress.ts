import type { Io } from './command.js';

/** An event as the stream gives it. */
export interface ProgressEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

type FileState = { name: string; state: 'uploading' | 'queued' | 'converting' | 'succeeded' | 'failed' | 'cancelled'; detail: string };

/** How far along each state is, for its bar. */
const FILL: Record<FileState['state'], number> = { uploading: 0, queued: 0.1, converting: 0.5, succeeded: 1, failed: 1, cancelled: 1 };
const MARK: Record<FileState['state'], string> = { uploading: ' ', queued: ' ', converting: '…', succeeded: '✓', failed: '✗', cancelled: '-' };
/** File rows shown at most: a window over the files, moving on as they end. */
const MAX_FILE_ROWS = 20;
const BAR = 20;

const bar = (fraction: number): string => {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * BAR);
  return `${'█'.repeat(full)}${'░'.repeat(BAR - full)}`;
};

function time(): string {
  return new Date().toISOString().slice(11, 19);
}

/**
 * What `kiln convert` and `wait` show while a conversion or job runs. On a terminal: a bar
 * per file and one for the job, redrawn in place as events arrive. Elsewhere (a pipe, a
 * file): one line per event, which a script can read as it comes.
 */
export class ProgressView {
  private readonly files: FileState[];
  private job: { id: string; done: number; total: number; running: number; failed: number } | undefined;
  private drawn = 0;
  private readonly live: boolean;

  constructor(
    private readonly io: Io,
    names: readonly string[],
    private readonly quiet: boolean,
  ) {
    this.files = names.map((name) => ({ name, state: 'uploading', detail: '' }));
    this.live = !quiet && io.stdout.isTTY === true && io.env.TERM !== 'dumb';
  }

  /** The conversion or job was accepted: its files wait for a converter. */
  accepted(id: string, total: number): void {
    for (const file of this.files) file.state = 'queued';
    if (id.startsWith('job_')) this.job = { id, done: 0, total, running: 0, failed: 0 };
    if (this.live) this.draw();
    else if (!this.quiet) this.line(`${time()}  accepted  ${id}  ${total} file${total === 1 ? '' : 's'}`);
  }

  event(event: ProgressEvent): void {
    const data = event.data;
    if (event.type.startsWith('job.')) this.jobEvent(event.type, data);
    else this.conversionEvent(event.type, data, this.files[0]);
    if (this.live) this.draw();
    else if (!this.quiet) this.line(`${time()}  ${event.type.padEnd(20)}  ${this.describe(event.type, data)}`);
  }

  /** Ends the display: a live one is left on screen as last drawn. */
  finish(): void {
    if (this.live) this.draw();
  }

  private jobEvent(type: string, data: Record<string, unknown>): void {
    const counts = data.counts as { total: number; running: number; succeeded: number; failed: number; cancelled: number } | undefined;
    if (this.job && counts) {
      this.job.total = counts.total;
      this.job.done = counts.succeeded + counts.failed + counts.cancelled;
      this.job.running = counts.running;
      this.job.failed = counts.failed + counts.cancelled;
    }
    const file = data.file as { index: number; status: FileState['state']; error: { code: string; message: string } | null } | undefined;
    if (type === 'job.progress' && file) {
      const state = this.files[file.index];
      if (state) {
        state.state = file.status;
        state.detail = file.error ? `${file.error.code}` : '';
      }
    }
    if (type === 'job.cancelled') for (const state of this.files) if (FILL[state.state] < 1) state.state = 'cancelled';
  }

  private conversionEvent(type: string, data: Record<string, unknown>, file: FileState | undefined): void {
    if (!file) return;
    const output = data.output as { format: string; width: number; height: number; bytes: number } | undefined;
    const error = data.error as { code: string } | undefined;
    if (type === 'conversion.started') file.state = 'converting';
    else if (type === 'conversion.completed') {
      file.state = 'succeeded';
      if (output) file.detail = `${output.format} ${output.width}×${output.height} ${size(output.bytes)}`;
    } else if (type === 'conversion.failed') {
      file.state = 'failed';
      file.detail = error?.code ?? '';
    } else if (type === 'conversion.cancelled') file.state = 'cancelled';
  }

  private describe(type: string, data: Record<string, unknown>): string {
    const subject = [data.job_id, data.conversion_id].find((v): v is string => typeof v === 'string') ?? '';
    if (type.startsWith('job.')) {
      const file = data.file as { filename: string; status: string; error: { code: string } | null } | undefined;
      const counts = data.counts as { total: number; succeeded: number; failed: number; cancelled: number } | undefined;
      const done = counts ? `${counts.succeeded + counts.failed + counts.cancelled}/${counts.total}` : '';
      return [subject, done, file ? `${file.filename} ${file.status}${file.error ? ` ${file.error.code}` : ''}` : ''].filter(Boolean).join('  ');
    }
    const input = data.input as { filename: string } | undefined;
    const error = data.error as { code: string } | undefined;
    return [subject, input?.filename ?? '', error?.code ?? ''].filter(Boolean).join('  ');
  }

  private line(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  private draw(): void {
    const width = Math.max(40, (this.io.stdout.columns ?? 80) - 1);
    const rows: string[] = [];
    // As many file rows as the terminal has room for: from the first file not yet ended on.
    const room = Math.max(3, Math.min(MAX_FILE_ROWS, (this.io.stdout.rows ?? 24) - 6));
    const frontier = Math.max(
      0,
      this.files.findIndex((f) => FILL[f.state] < 1),
    );
    const start = Math.max(0, Math.min(frontier, this.files.length - room));
    const shown = this.files.slice(start, start + room);
    const nameWidth = Math.min(28, Math.max(8, ...shown.map((f) => f.name.length)));
    for (const file of shown) {
      const name = file.name.length > nameWidth ? `${file.name.slice(0, nameWidth - 1)}…` : file.name.padEnd(nameWidth);
      rows.push(`${MARK[file.state]} ${name}  ${bar(FILL[file.state])}  ${file.state}${file.detail ? `  ${file.detail}` : ''}`);
    }
    if (this.job) {
      const { id, done, total, running, failed } = this.job;
      rows.push(
        `  ${'job'.padEnd(nameWidth)}  ${bar(total === 0 ? 0 : done / total)}  ${done}/${total} done, ${running} running${failed ? `, ${failed} failed` : ''}  ${id}`,
      );
    }
    // Back to the first row drawn last time, then each row over its old self.
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const row of rows) text += `\r\x1b[2K${row.slice(0, width)}\n`;
    this.io.stdout.write(text);
    this.drawn = rows.length;
  }
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
