import { Kiln } from '../client.js';
import type { Flags } from './args.js';
import { resolveProfile } from './profiles.js';

/** Where a command reads and writes: the process's own streams, or a test's. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export interface Context {
  io: Io;
  /** The words after the command's name. */
  args: string[];
  flags: Flags;
  /** `--json`: one JSON document (or one per line, for what streams) instead of text. */
  json: boolean;
  /** The client for the chosen profile (made on first use, so commands that need none work logged out). */
  client(): Kiln;
  /** The profile's name and URL, once `client()` has chosen it. */
  profile(): { name: string; url: string };
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr. */
  err(line: string): void;
}

/** One command: its words (`endpoints create`), its help, and what it does. Answers the exit code (0 when nothing is said). */
export interface Command {
  name: string;
  summary: string;
  /** What follows the name in the usage line, e.g. `<id>` or `<files…> --to FORMAT`. */
  usage?: string;
  options?: ReadonlyArray<readonly [flag: string, description: string]>;
  /** Flags that take no value. */
  booleans?: readonly string[];
  /** Options beyond those listed are passed to the API (e.g. every conversion option). */
  passesOptions?: string;
  examples?: readonly string[];
  run(ctx: Context): number | void | Promise<number | void>;
}

export function makeContext(io: Io, args: string[], flags: Flags): Context {
  let client: Kiln | undefined;
  let chosen: { name: string; url: string } | undefined;
  const json = flags.boolean('json');
  const profileName = flags.string('profile');
  return {
    io,
    args,
    flags,
    json,
    client() {
      if (!client) {
        const profile = resolveProfile(io.env, profileName);
        chosen = { name: profile.name, url: profile.url };
        client = new Kiln({ url: profile.url, apiKey: profile.api_key });
      }
      return client;
    },
    profile() {
      if (!chosen) this.client();
      return chosen!;
    },
    out: (line) => void io.stdout.write(`${line}\n`),
    err: (line) => void io.stderr.write(`${line}\n`),
  };
}

/** Text for a value in a table cell or a `name: value` line. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(',');
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? typeof value;
}

/** Rows under a header, each column as wide as its widest cell. */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  const text = rows.map((row) => columns.map((column) => cell(column.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | null)?.[k], row))));
  const widths = columns.map((column, i) => Math.max(column.length, ...text.map((cells) => cells[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...text.map(line)].join('\n');
}

/** An object as `name: value` lines, nested objects indented. */
export function record(value: Record<string, unknown>, indent = ''): string {
  return Object.entries(value)
    .map(([key, v]) =>
      v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0
        ? `${indent}${key}:\n${record(v as Record<string, unknown>, `${indent}  `)}`
        : `${indent}${key}: ${cell(v)}`,
    )
    .join('\n');
}

/** Prints what a command answers: as JSON with `--json`, else as `human` shows it. */
export function show(ctx: Context, value: unknown, human: (value: never) => string = (v) => record(v)): void {
  ctx.out(ctx.json ? JSON.stringify(value, null, 2) : human(value as never));
}

/** Everything on stdin, as text (a key given as `-`, a payload to verify). */
export async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
