/**
 * `npm run bench`: the same real photographs (Debian's mate-backgrounds), in four cases
 * (HEIC to JPEG 1600 px, the photos made HEIC once by Debian's heif-enc; WebP 1600 px; JPEG
 * 320 px thumbnails, where Kiln's own overhead dominates; WebP 1600 px with one endpoint
 * subscribed to every event), each measured in one run:
 *   1. baseline: a bare sharp loop with as many conversions at once as Kiln's kiln-convert
 *      queue; for HEIC, a bare loop of Kiln's decoder (libheif in WebAssembly) + sharp in as
 *      many processes, and Debian's native heif-convert + sharp as a second baseline;
 *   2. Kiln end to end: `kiln dev` in a child process, every file submitted through the HTTP
 *      API, each a Temporal workflow, until all have succeeded.
 * Prints images/s for both, the ratio Kiln/baseline, CPU seconds per conversion by process
 * (the Kiln process, its converter processes, the Temporal dev server), the peak RSS of a
 * process decoding one HEIC at a time, and the Kiln process's peak RSS. Then, at light
 * load (one at a time, each photo once), a 320 px thumbnail's path from the upload to
 * `conversion.completed` on its event stream, stage by stage, against sharp's own time for
 * the same photo (BENCH_LATENCY=0 skips it). Not a test: nothing here pass/fails.
 */
import { execFile, execFileSync, fork } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { request, uploadForm } from '../test/support/http.js';
import { freePort } from '../test/support/postgres.js';
import { startKilnDev, stopGracefully, waitUntil } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';
import { historyEventMs } from '../test/support/temporal.js';
import { startReceiver } from '../test/support/receiver.js';
import { cpuByRole, formatRoles, processGroupUsage } from './process-usage.js';
import { awaitStreamEvent } from './job-client.js';
import { ensurePhotos, mapLimit, PHOTO_DIR } from './photos.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const WIDTH = 1600;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? os.availableParallelism());

interface BenchCase {
  label: string;
  format: 'webp' | 'jpeg';
  width: number;
  /** One endpoint subscribed to every event, on a loopback receiver. */
  endpoint: boolean;
  /** The photos as HEIC files (heif-enc's), not as their JPEGs. */
  heic?: boolean;
}

const ALL_CASES: BenchCase[] = [
  { label: `HEIC to JPEG ${WIDTH} px, no endpoints`, format: 'jpeg', width: WIDTH, endpoint: false, heic: true },
  { label: `WebP ${WIDTH} px, no endpoints`, format: 'webp', width: WIDTH, endpoint: false },
  { label: 'JPEG 320 px thumbnails, no endpoints', format: 'jpeg', width: 320, endpoint: false },
  { label: `WebP ${WIDTH} px, one endpoint on every event`, format: 'webp', width: WIDTH, endpoint: true },
];
/** BENCH_CASES=<substring>: only the cases whose label contains it (e.g. `thumbnails`). */
const CASES = ALL_CASES.filter((bench) => bench.label.includes(process.env.BENCH_CASES ?? ''));

/** Each photo as a HEIC file, made once by Debian's heif-enc (quality 80) and kept under ~/.cache/kiln. */
function heicPhotos(photos: string[]): string[] {
  const dir = path.join(os.homedir(), '.cache', 'kiln', 'bench-heic');
  mkdirSync(dir, { recursive: true });
  return photos.map((photo) => {
    const heic = path.join(dir, `${path.basename(photo, path.extname(photo))}.heic`);
    if (!existsSync(heic)) execFileSync('heif-enc', ['-q', '80', photo, '-o', heic], { stdio: 'ignore' });
    return heic;
  });
}

/** The bare HEIC loop: Kiln's decoder and sharp in `concurrency` processes, the files shared among them. */
async function benchHeicDecoderLoop(files: string[], bench: BenchCase): Promise<{ rate: number; peakRssMb: number }> {
  const started = performance.now();
  const peaks = await Promise.all(
    Array.from({ length: concurrency }, (_, worker) => {
      const child = fork(path.join(import.meta.dirname, 'heic-loop.ts'), { execArgv: ['--import', 'tsx', '--expose-gc'] });
      return new Promise<number>((resolve, reject) => {
        child.once('message', (message: { peakRssMb: number }) => resolve(message.peakRssMb));
        child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`heic-loop exited ${code}`))));
        child.send({ files: files.filter((_, i) => i % concurrency === worker), width: bench.width });
      });
    }),
  );
  return { rate: files.length / ((performance.now() - started) / 1000), peakRssMb: Math.max(...peaks) };
}

/** The native baseline: Debian's heif-convert decodes each file to PNG, sharp converts that. */
async function benchHeifConvert(files: string[], bench: BenchCase): Promise<number> {
  const dir = tempDir('bench-heif-convert');
  try {
    let next = 0;
    const started = performance.now();
    await mapLimit(files, concurrency, async (file) => {
      const png = path.join(dir.path, `${next++}.png`);
      await new Promise<void>((resolve, reject) =>
        execFile('heif-convert', [file, png], (error) => (error ? reject(new Error(`heif-convert ${file}: ${error.message}`)) : resolve())),
      );
      await sharp(png).rotate().resize({ width: bench.width }).toFormat(bench.format).toBuffer();
    });
    return files.length / ((performance.now() - started) / 1000);
  } finally {
    dir.remove();
  }
}

async function benchSharp(files: Buffer[], bench: BenchCase): Promise<number> {
  const started = performance.now();
  await mapLimit(files, concurrency, async (file) => {
    await sharp(file).rotate().resize({ width: bench.width }).toFormat(bench.format).toBuffer();
  });
  return files.length / ((performance.now() - started) / 1000);
}

/** A multipart/form-data body as a client would send it: the fields, then the file. */
function multipartBody(file: Buffer, filename: string, fields: Record<string, string>): { body: Buffer; contentType: string } {
  const boundary = `kiln-bench-${Math.random().toString(36).slice(2)}`;
  const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const type = filename.endsWith('.heic') ? 'image/heic' : 'image/jpeg';
  const head = `${parts.join('')}--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: ${type}\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

const uploadAgent = new http.Agent({ keepAlive: true });

/** A plain POST on a kept-alive connection: the lightest client the machine can spare. */
function postBytes(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: uploadAgent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface KilnRun {
  rate: number;
  cpu: Map<string, number>;
}

async function benchKilnCase(
  kiln: { pid: number },
  api: string,
  key: string,
  files: Array<{ name: string; bytes: Buffer }>,
  bench: BenchCase,
): Promise<KilnRun> {
  const fields = { output_format: bench.format, width: String(bench.width) };
  // Bodies encoded before the clock starts: the client's own work is not Kiln's, and it shares the machine.
  const uploads = files.map((file) => multipartBody(file.bytes, file.name, fields));
  const before = processGroupUsage(kiln.pid);
  const windowStart = process.hrtime.bigint() / 1000n;
  const started = Date.now();
  const ids: string[] = [];
  // A client uploads a few files at once, as any uploader would.
  await mapLimit(uploads, 4, async (upload) => {
    const response = await postBytes(`${api}/v1/conversions`, { authorization: `Bearer ${key}`, 'content-type': upload.contentType }, upload.body);
    if (response.status !== 202) throw new Error(JSON.stringify(response.body));
    ids.push((response.body as { id: string }).id);
  });
  const pending = new Set(ids);
  let finishedAt = 0;
  await waitUntil(
    async () => {
      for (const id of [...pending]) {
        const row = (await request(`${api}/v1/conversions/${id}`, { key })).body;
        if (row.status === 'failed') throw new Error(`a conversion failed: ${JSON.stringify(row)}`);
        if (row.status !== 'succeeded') break;
        pending.delete(id);
        finishedAt = Math.max(finishedAt, Date.parse(row.completed_at));
      }
      return pending.size === 0;
      // The end time is the last completed_at Kiln recorded, so this polling interval does not skew the figure.
    },
    600_000,
    'all conversions',
    1000,
  );
  const cpu = cpuByRole(before, processGroupUsage(kiln.pid), (usage) =>
    usage.pid === kiln.pid ? 'kiln' : usage.command === 'temporal' ? 'temporal' : 'converters',
  );
  // Monotonic microseconds, the clock V8's CPU profiles use: cuts a BENCH_CPU_PROF profile down to this case.
  if (process.env.BENCH_CPU_PROF) console.log(`  profile window (µs, monotonic): ${windowStart} ${process.hrtime.bigint() / 1000n}`);
  return { rate: files.length / ((finishedAt - started) / 1000), cpu };
}

type Files = Array<{ name: string; bytes: Buffer }>;

/** The files a case converts: the photos, or their HEIC versions. */
const filesOf = (bench: BenchCase): Files => (bench.heic ? heicFiles : files);

/** Reads a conversion's event stream until it ends; answers when `conversion.completed` arrived. */
async function completedOnStream(api: string, key: string, id: string): Promise<number> {
  const ended = await awaitStreamEvent(`${api}/v1/conversions/${id}/events`, key, /^conversion\.(completed|failed|cancelled)$/);
  if (ended.type !== 'conversion.completed') throw new Error(`conversion ${id} ended ${ended.type}`);
  return ended.at;
}

const STAGES = ['upload answered', 'workflow started', 'activity started', 'recorded', 'event on the stream'] as const;

/**
 * One thumbnail at a time, each photo once: when each stage was reached after the upload
 * began (from the client's clock, the workflow's history and the conversion's row, all on
 * this machine's clock), medians over the photos, against sharp alone on the same photo.
 */
async function latencyAtLightLoad(api: string, key: string, temporalAddress: string): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection });
  const fields = { output_format: 'jpeg', width: '320' };
  const stages: Array<Record<(typeof STAGES)[number], number>> = [];
  const sharpAlone: number[] = [];
  try {
    for (const photo of files.slice(0, photos.length)) {
      const sharpStarted = performance.now();
      await sharp(photo.bytes).rotate().resize({ width: 320 }).jpeg().toBuffer();
      sharpAlone.push(performance.now() - sharpStarted);
      const upload = multipartBody(photo.bytes, photo.name, fields);
      const started = Date.now();
      const response = await postBytes(`${api}/v1/conversions`, { authorization: `Bearer ${key}`, 'content-type': upload.contentType }, upload.body);
      const answered = Date.now();
      if (response.status !== 202) throw new Error(JSON.stringify(response.body));
      const accepted = response.body as { id: string; workflow_id: string };
      const onStream = await completedOnStream(api, key, accepted.id);
      const row = (await request(`${api}/v1/conversions/${accepted.id}`, { key })).body as { completed_at: string };
      const history = await client.workflow.getHandle(accepted.workflow_id).fetchHistory();
      const activityStarted = history.events?.find((event) => event.eventType === proto.temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED);
      stages.push({
        'upload answered': answered - started,
        'workflow started': historyEventMs(history.events?.[0]?.eventTime) - started,
        'activity started': historyEventMs(activityStarted?.eventTime) - started,
        recorded: Date.parse(row.completed_at) - started,
        'event on the stream': onStream - started,
      });
    }
  } finally {
    await connection.close();
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const p90 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)]!;
  console.log(`
A 320 px thumbnail at light load, one at a time, ${stages.length} photos (ms after the upload began; median, p90):`);
  for (const stage of STAGES) {
    const values = stages.map((s) => s[stage]);
    console.log(`  ${`${stage}:`.padEnd(22)} ${median(values).toFixed(0).padStart(5)} ${p90(values).toFixed(0).padStart(5)}`);
  }
  const total = median(stages.map((s) => s['event on the stream']));
  console.log(`  ${'sharp alone:'.padEnd(22)} ${median(sharpAlone).toFixed(0).padStart(5)} ${p90(sharpAlone).toFixed(0).padStart(5)}`);
  console.log(`  upload to event on the stream over sharp alone (medians): ${(total / median(sharpAlone)).toFixed(2)}`);
}

async function benchKiln(baselines: Array<Array<{ label: string; rate: number }>>): Promise<void> {
  const dir = tempDir('bench');
  const receiver = await startReceiver([{ status: 204 }]);
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the Kiln process lands there on stop.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  // BENCH_NODE_ARGS: more flags for the Kiln process, e.g. --perf-basic-prof for `perf record`.
  profile.push(...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []));
  // What `npm start` runs: the compiled code, not the TypeScript loader the tests use.
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const kiln = await startKilnDev(
    { ...ports, KILN_DATA_DIR: dir.path, KILN_CONVERT_CONCURRENCY: String(concurrency) },
    { built: true, nodeArgs: profile, timeoutMs: 600_000 },
  );
  try {
    const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
    const api = `http://127.0.0.1:${ports.PORT}`;
    // Warm-up: the first conversion pays for worker start-up paths, not per-image cost.
    const warm = await request(`${api}/v1/conversions`, {
      method: 'POST',
      key,
      body: uploadForm(files[0]!.bytes, files[0]!.name, { output_format: 'webp', width: String(WIDTH) }),
    });
    await waitUntil(async () => (await request(`${api}/v1/conversions/${warm.body.id}`, { key })).body.status === 'succeeded', 60_000, 'warm-up');

    for (const [index, bench] of CASES.entries()) {
      if (bench.endpoint) {
        const created = await request(`${api}/v1/webhooks/endpoints`, {
          method: 'POST',
          key,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: `${receiver.url}/hooks` }),
        });
        if (created.status !== 201) throw new Error(JSON.stringify(created.body));
      }
      const received = receiver.requests.length;
      const caseFiles = filesOf(bench);
      const run = await benchKilnCase({ pid: kiln.pid! }, api, key, caseFiles, bench);
      console.log(`\n${bench.label}`);
      for (const baseline of baselines[index]!) console.log(`  ${`${baseline.label}:`.padEnd(34)} ${baseline.rate.toFixed(2)} images/s`);
      console.log(`  ${'Kiln end to end:'.padEnd(34)} ${run.rate.toFixed(2)} images/s`);
      for (const baseline of baselines[index]!) console.log(`  ratio Kiln/${baseline.label}: ${(run.rate / baseline.rate).toFixed(3)}`);
      console.log(`  CPU: ${formatRoles(run.cpu, caseFiles.length, 'conversion')}`);
      if (bench.heic) {
        // Converters keep their peak (VmHWM) for life: this case runs first, after a one-image warm-up.
        const converters = processGroupUsage(kiln.pid!).filter((usage) => usage.pid !== kiln.pid && usage.command !== 'temporal');
        console.log(`  converter processes' peak RSS: ${converters.map((usage) => `${usage.peakRssMb.toFixed(0)} MiB`).join(', ')}`);
      }
      if (bench.endpoint) {
        await receiver.waitForRequests(received + 3 * caseFiles.length, 120_000);
        console.log(`  webhooks received: ${receiver.requests.length - received} (3 events per conversion)`);
      }
    }
    if (process.env.BENCH_LATENCY !== '0') await latencyAtLightLoad(api, key, `127.0.0.1:${ports.TEMPORAL_PORT}`);
    const peak = processGroupUsage(kiln.pid!).find((usage) => usage.pid === kiln.pid);
    console.log(`\npeak RSS of the Kiln process: ${peak?.peakRssMb.toFixed(0)} MiB`);
  } finally {
    await stopGracefully(kiln, 60_000);
    await receiver.close();
    dir.remove();
  }
}

const photos = ensurePhotos();
const rounds = <T>(items: T[]): T[] => Array.from({ length: ROUNDS }, () => items).flat();
const files: Files = rounds(photos).map((file) => ({ name: path.basename(file), bytes: readFileSync(file) }));
const heicPaths = CASES.some((bench) => bench.heic) ? rounds(heicPhotos(photos)) : [];
const heicFiles: Files = heicPaths.map((file) => ({ name: path.basename(file), bytes: readFileSync(file) }));
console.log(`photos: ${photos.length} JPEGs from ${PHOTO_DIR}, ${ROUNDS} rounds = ${files.length} conversions per case`);
console.log(`machine: ${os.availableParallelism()} cores; conversions at once: ${concurrency}`);
console.log(
  `libvips threads per image: ${sharp.concurrency()} (glibc malloc${process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : ''}; sharp uses 1 thread on glibc unless jemalloc is preloaded)`,
);

// Baselines first, so Kiln's idle processes do not share the machine with them.
await benchSharp(
  files.slice(0, photos.length).map((f) => f.bytes),
  CASES.find((bench) => !bench.heic) ?? ALL_CASES[1]!,
); // warm-up
const baselines: Array<Array<{ label: string; rate: number }>> = [];
for (const bench of CASES) {
  if (bench.heic) {
    const loop = await benchHeicDecoderLoop(heicPaths, bench);
    console.log(`HEIC: one process decoding with libheif (WebAssembly) and converting one file at a time peaked at ${loop.peakRssMb.toFixed(0)} MiB RSS`);
    baselines.push([
      { label: 'libheif-js + sharp loop', rate: loop.rate },
      { label: 'heif-convert + sharp loop', rate: await benchHeifConvert(heicPaths, bench) },
    ]);
  } else {
    baselines.push([
      {
        label: 'sharp loop',
        rate: await benchSharp(
          files.map((f) => f.bytes),
          bench,
        ),
      },
    ]);
  }
}
await benchKiln(baselines);
