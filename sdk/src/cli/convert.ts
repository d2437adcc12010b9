import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import type { Conversion, Job, Kiln } from '../client.js';
import { UsageError } from './args.js';
import { show, type Command, type Context } from './command.js';
import { expandInputs, type CliInput } from './inputs.js';
import { ProgressView } from './progress.js';
import { conversionOptions, only } from './resources.js';

/** A file of a job as the API lists it. */
type JobFile = Conversion;

async function jobFiles(client: Kiln, jobId: string): Promise<JobFile[]> {
  const files: JobFile[] = [];
  for await (const file of client.list<JobFile>(`/v1/jobs/${jobId}/conversions`)) files.push(file);
  return files.sort((a, b) => (a.job_index ?? 0) - (b.job_index ?? 0));
}

/** Outputs land under their own names; a name taken earlier in the run gets the file's place in the job. */
function outputName(conversion: Conversion, taken: Set<string>): string {
  const name = conversion.output?.filename ?? `${conversion.id}.${conversion.output?.format ?? 'out'}`;
  if (!taken.has(name)) {
    taken.add(name);
    return name;
  }
  const ext = path.extname(name);
  const unique = `${path.basename(name, ext)}-${(conversion.job_index ?? 0) + 1}${ext}`;
  taken.add(unique);
  return unique;
}

async function saveResponse(response: Response, file: string): Promise<void> {
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), createWriteStream(file));
}

interface Outcome {
  /** Written outputs: each file's path. */
  written: string[];
  failed: Array<{ name: string; id: string; status: string; code: string | null; message: string | null }>;
}

/** Writes what ended: every succeeded output (or the job's archive), and lists the rest. */
async function collect(ctx: Context, ended: Conversion | Job, out: string | undefined, archive: boolean): Promise<Outcome> {
  const client = ctx.client();
  const outcome: Outcome = { written: [], failed: [] };
  const files = ended.id.startsWith('job_') ? await jobFiles(client, ended.id) : [ended as Conversion];
  for (const file of files) {
    if (file.status !== 'succeeded') {
      outcome.failed.push({
        name: file.input.filename,
        id: file.id,
        status: file.status,
        code: file.error?.code ?? null,
        message: file.error?.message ?? null,
      });
    }
  }
  if (out === undefined) return outcome;
  await mkdir(out, { recursive: true });
  if (archive && ended.id.startsWith('job_')) {
    if (files.some((f) => f.status === 'succeeded')) {
      const file = path.join(out, `${ended.id}.zip`);
      await saveResponse(await client.request('GET', `/v1/jobs/${ended.id}/archive`), file);
      outcome.written.push(file);
    }
    return outcome;
  }
  const taken = new Set<string>();
  for (const file of files.filter((f) => f.status === 'succeeded')) {
    const target = path.join(out, outputName(file, taken));
    await client.download(file, target);
    outcome.written.push(target);
  }
  return outcome;
}

/**
 * Follows a conversion or job to its end on its event stream, showing progress; answers it
 * as it ended, or undefined when Ctrl-C stopped the wait (the work goes on in Kiln).
 */
async function follow(ctx: Context, accepted: Conversion | Job, names: string[], timeoutSeconds?: number): Promise<Conversion | Job | undefined> {
  const interrupted = new AbortController();
  const interrupt = (): void => interrupted.abort();
  // Listening before the "accepted" line is printed: a user (or a script) who reads it and
  // presses Ctrl-C at once must stop the wait, not kill the process mid-step.
  process.once('SIGINT', interrupt);
  const view = new ProgressView(ctx.io, names, ctx.json);
  view.accepted(accepted.id, names.length);
  try {
    return await ctx.client().wait(accepted, {
      onProgress: (event) => view.event(event),
      signal: interrupted.signal,
      ...(timeoutSeconds ? { timeout: timeoutSeconds * 1000 } : {}),
    });
  } catch (error) {
    if (!interrupted.signal.aborted) throw error;
    const kind = accepted.id.startsWith('job_') ? 'jobs' : 'conversions';
    ctx.err(`stopped waiting; ${accepted.id} goes on in Kiln: kiln ${kind} wait ${accepted.id} follows it again, kiln ${kind} cancel ${accepted.id} stops it`);
    return undefined;
  } finally {
    process.off('SIGINT', interrupt);
    view.finish();
  }
}

/** The exit code of a command Ctrl-C ended (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

/** Prints how it ended; answers the exit code: 0 when every file succeeded, 1 otherwise. */
function report(ctx: Context, ended: Conversion | Job, outcome: Outcome): number {
  if (ctx.json) show(ctx, { ...ended, written: outcome.written, failed: outcome.failed });
  else {
    for (const file of outcome.written) ctx.out(`wrote ${file}`);
    const total = 'counts' in ended ? ended.counts.total : 1;
    const ok = total - outcome.failed.length;
    ctx.out(`${ended.id} ${ended.status}: ${ok} of ${total} succeeded`);
    for (const failed of outcome.failed)
      ctx.out(
        `✗ ${failed.name} (${failed.id}) ${failed.status}${failed.code ? `: ${failed.code}` : ''}${failed.message ? ` ${failed.message.replace(/\s*\n\s*/g, '; ')}` : ''}`,
      );
  }
  return outcome.failed.length === 0 && ended.status === 'succeeded' ? 0 : 1;
}

async function upload(client: Kiln, inputs: CliInput[], options: Record<string, unknown>): Promise<Conversion | Job> {
  const source = (input: CliInput) => (input.kind === 'url' ? input.url : input.path);
  if (inputs.length === 1) return client.convert(source(inputs[0]!), options);
  if (inputs.some((i) => i.kind === 'url') && inputs.some((i) => i.kind === 'file'))
    throw new UsageError('a job takes files or URLs, not both: run kiln convert once for each');
  return client.createJob(inputs.map(source), options);
}

export const CONVERT_COMMANDS: Command[] = [
  {
    name: 'convert',
    summary: 'Convert files, directories, globs or URLs: one makes a conversion, several a job',
    usage: '<file|dir|glob|URL>… --to FORMAT [conversion options]',
    options: [
      ['--to FORMAT', 'webp, avif, jpeg, png, gif or tiff (or a --preset that names one)'],
      ['--preset NAME', 'a saved set of options; flags given override it'],
      ['--out DIR', 'where outputs are written (default: the current directory)'],
      ['--archive', "a job's outputs as one zip, DIR/<job id>.zip"],
      ['--no-wait', 'print the accepted conversion or job and exit'],
      ['--timeout SECONDS', 'give up waiting after this long (exit 1)'],
    ],
    booleans: ['archive', 'wait'],
    passesOptions:
      'every other --flag is a conversion option as the API names it, dashes for underscores: --width 800 --fit cover --strip-metadata --quality 70',
    examples: [
      'kiln convert photo.jpg --to webp --width 1200',
      'kiln convert ~/Pictures/trip --to avif --quality 55 --out ./trip-avif',
      "kiln convert 'shots/**/*.png' --to webp --archive --out dist",
      'kiln convert https://example.com/cat.jpg --to png --width 256 --json',
    ],
    async run(ctx) {
      const out = ctx.flags.string('out') ?? '.';
      const archive = ctx.flags.boolean('archive');
      const wait = ctx.flags.has('wait') ? ctx.flags.boolean('wait') : true;
      const timeout = ctx.flags.number('timeout');
      const options = conversionOptions(ctx.flags);
      if (ctx.args.length === 0) throw new UsageError('nothing to convert: name files, directories, globs or URLs');
      if (options.output_format === undefined && options.preset === undefined) throw new UsageError('--to FORMAT (or --preset NAME) is required');
      const inputs = await expandInputs(ctx.args);
      const accepted = await upload(ctx.client(), inputs, options);
      if (!wait) {
        show(ctx, accepted, (a: Conversion | Job) => `${a.id} ${a.status}`);
        return 0;
      }
      const ended = await follow(
        ctx,
        accepted,
        inputs.map((i) => i.name),
        timeout,
      );
      return ended ? report(ctx, ended, await collect(ctx, ended, out, archive)) : INTERRUPTED;
    },
  },
  ...(['conversions', 'jobs'] as const).flatMap((kind): Command[] => [
    {
      name: `${kind} wait`,
      summary: `Wait for a ${kind.slice(0, -1)} to end, showing its progress; exit 0 when it succeeded`,
      usage: '<id>',
      options: [
        ['--out DIR', 'also write its outputs there'],
        ['--timeout SECONDS', 'give up after this long (exit 1)'],
      ],
      examples: [`kiln ${kind} wait ${kind === 'jobs' ? 'job' : 'cnv'}_… --timeout 120`],
      async run(ctx) {
        const out = ctx.flags.string('out');
        const timeout = ctx.flags.number('timeout');
        ctx.flags.noneLeft();
        const id = only(ctx, 'id');
        const client = ctx.client();
        const current = kind === 'jobs' ? await client.getJob(id) : await client.getConversion(id);
        const names = kind === 'jobs' ? (await jobFiles(client, id)).map((f) => f.input.filename) : [(current as Conversion).input.filename];
        const ended = await follow(ctx, current, names, timeout);
        return ended ? report(ctx, ended, await collect(ctx, ended, out, false)) : INTERRUPTED;
      },
    },
    {
      name: `${kind} download`,
      summary: kind === 'jobs' ? "Write a job's outputs (or its zip, --archive)" : "Write a conversion's output",
      usage: '<id>',
      options: [
        ['--out DIR', 'where (default: the current directory)'],
        ...(kind === 'jobs' ? ([['--archive', 'one zip instead of each file']] as const) : []),
      ],
      booleans: ['archive'],
      examples: [`kiln ${kind} download ${kind === 'jobs' ? 'job' : 'cnv'}_… --out ./out`],
      async run(ctx) {
        const out = ctx.flags.string('out') ?? '.';
        const archive = ctx.flags.boolean('archive');
        ctx.flags.noneLeft();
        const id = only(ctx, 'id');
        const current = kind === 'jobs' ? await ctx.client().getJob(id) : await ctx.client().getConversion(id);
        const outcome = await collect(ctx, current, out, archive);
        if (ctx.json) show(ctx, { id, written: outcome.written });
        else for (const file of outcome.written) ctx.out(`wrote ${file}`);
        return outcome.written.length > 0 ? 0 : 1;
      },
    },
  ]),
];
