/**
 * `npm run bench:peers`: Kiln side by side with thumbor 7.8, the image server users compare
 * it with, on the same photos (Debian's mate-backgrounds), two at a time, every output
 * fetched over HTTP. Each pass runs, one after another: the bare sharp loop (the baseline
 * the pass's ratios are to), thumbor (its file loader reading the photos, nothing stored,
 * 2 processes), Kiln with single uploads (`Prefer: wait`, then the output downloaded), and
 * Kiln with one job of all the photos (ended on its event stream, then every output
 * downloaded). Three passes (`BENCH_PASSES`); it prints the medians: images/s and the
 * ratio to the pass's sharp loop, CPU seconds per image summed over each system's process
 * tree (Kiln's: its process, its converters and the Temporal dev server), the tree's peak
 * RSS (the sum over its processes, sampled every 100 ms), and the outputs' mean size.
 *
 * thumbor keeps nothing and tells no one; Kiln stores every original and output and
 * records every step. The comparison is still the one a user makes. Not a test: nothing
 * here fails on a figure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { freePort } from '../src/free-port.js';
import { findOrBuildThumborPython } from '../tools/python-venv.js';
import { startKilnDev, stopGracefully, waitUntil } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';
import { awaitStreamEvent, jobBody, post, type NamedFile } from './job-client.js';
import { ensurePhotos, mapLimit, PHOTO_DIR } from './photos.js';
import { processGroupUsage, processTreeUsage, type ProcessUsage } from './process-usage.js';

const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const AT_ONCE = 2;
const QUALITY = 80;
const CASES = [
  { label: 'WebP 1600 px', format: 'webp', width: 1600 },
  { label: 'JPEG 320 px', format: 'jpeg', width: 320 },
] as const;
type Case = (typeof CASES)[number];
const SYSTEMS = ['sharp loop', 'thumbor', 'Kiln, single uploads', 'Kiln, one job'] as const;
type System = (typeof SYSTEMS)[number];

interface Run {
  rate: number;
  cpuSecondsPerImage: number;
  meanBytes: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: AT_ONCE * 2 });
/**
 * thumbor's processes share one listening socket, and a kept-alive connection stays with
 * the process that accepted it: two requests in flight on two such connections may both
 * sit on one process while the other idles. A connection per request goes to whichever
 * process is free to accept it.
 */
const perRequest = new http.Agent({ keepAlive: false });

/** A GET, its body whole: on a kept-alive connection, or with `fresh` on a connection of its own. */
function get(url: string, headers: Record<string, string> = {}, fresh = false): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: fresh ? perRequest : agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** CPU seconds a set of processes spent between two snapshots (processes that appeared in between count from zero). */
function cpuBetween(before: ProcessUsage[], after: ProcessUsage[]): number {
  const start = new Map(before.map((usage) => [usage.pid, usage.cpuSeconds]));
  return after.reduce((sum, usage) => sum + usage.cpuSeconds - (start.get(usage.pid) ?? 0), 0);
}

/** The sum of the processes' resident sets now, in MiB. */
function residentMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // ended between the listing and the read
    }
  }
  return kb / 1024;
}

/** Runs `work` over the photos and measures it: the rate, CPU of `processes()` per image, the outputs' mean size. */
async function measure(photos: NamedFile[], processes: () => ProcessUsage[], work: () => Promise<number[]>): Promise<Run> {
  const before = processes();
  const started = performance.now();
  const sizes = await work();
  const seconds = (performance.now() - started) / 1000;
  return {
    rate: photos.length / seconds,
    cpuSecondsPerImage: cpuBetween(before, processes()) / photos.length,
    meanBytes: sizes.reduce((a, b) => a + b, 0) / sizes.length,
  };
}

async function sharpLoop(photos: NamedFile[], bench: Case): Promise<number[]> {
  const sizes: number[] = [];
  await mapLimit(photos, AT_ONCE, async (photo) => {
    const out = await sharp(photo.bytes).rotate().resize({ width: bench.width }).toFormat(bench.format, { quality: QUALITY }).toBuffer();
    sizes.push(out.length);
  });
  return sizes;
}

async function startThumbor(): Promise<{ child: ChildProcess; url: string; stop: () => Promise<void> }> {
  const python = await findOrBuildThumborPython();
  const dir = tempDir('bench-thumbor');
  // The file loader reads the photos where they lie; nothing is stored, nothing cached.
  const conf = path.join(dir.path, 'thumbor.conf');
  writeFileSync(
    conf,
    [
      `LOADER = 'thumbor.loaders.file_loader'`,
      `FILE_LOADER_ROOT_PATH = '${PHOTO_DIR}'`,
      `STORAGE = 'thumbor.storages.no_storage'`,
      `RESULT_STORAGE = None`,
      `QUALITY = ${QUALITY}`,
      `WEBP_QUALITY = ${QUALITY}`,
      `AUTO_WEBP = False`,
      `RESPECT_ORIENTATION = True`,
      `MAX_AGE = 0`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    path.join(path.dirname(python), 'thumbor'),
    ['--port', String(port), '--ip', '127.0.0.1', '--conf', conf, '--processes', String(AT_ONCE)],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await get(`${url}/healthcheck`).catch(() => ({ status: 0 }))).status === 200, 60_000, 'thumbor to answer');
  const stop = async (): Promise<void> => {
    for (const usage of processTreeUsage(child.pid!).reverse()) process.kill(usage.pid, 'SIGTERM');
    await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 20_000, 'thumbor to stop');
    dir.remove();
  };
  return { child, url, stop };
}

async function thumbor(url: string, photos: Array<NamedFile & { relative: string }>, bench: Case): Promise<number[]> {
  const sizes: number[] = [];
  const format = bench.format === 'webp' ? 'filters:format(webp)/' : '';
  await mapLimit(photos, AT_ONCE, async (photo) => {
    const response = await get(`${url}/unsafe/${bench.width}x0/${format}${photo.relative}`, {}, true);
    if (response.status !== 200) throw new Error(`thumbor answered ${response.status} for ${photo.relative}`);
    sizes.push(response.body.length);
  });
  return sizes;
}

async function kilnSingles(api: string, key: string, photos: NamedFile[], bench: Case): Promise<number[]> {
  const sizes: number[] = [];
  await mapLimit(photos, AT_ONCE, async (photo) => {
    const { body, contentType } = jobBody([photo], { output_format: bench.format, width: String(bench.width) });
    const ended = await post(`${api}/v1/conversions`, { authorization: `Bearer ${key}`, 'content-type': contentType, prefer: 'wait=60' }, body);
    if (ended.status !== 200 || ended.body.status !== 'succeeded') throw new Error(`Kiln answered ${ended.status}: ${JSON.stringify(ended.body)}`);
    sizes.push((await get(ended.body.download_url as string)).body.length);
  });
  return sizes;
}

async function kilnJob(api: string, key: string, photos: NamedFile[], bench: Case): Promise<number[]> {
  const { body, contentType } = jobBody(photos, { output_format: bench.format, width: String(bench.width) });
  const created = await post(`${api}/v1/jobs`, { authorization: `Bearer ${key}`, 'content-type': contentType }, body);
  if (created.status !== 202) throw new Error(`Kiln answered ${created.status}: ${JSON.stringify(created.body)}`);
  const ending = await awaitStreamEvent(`${api}/v1/jobs/${created.body.id}/events`, key, /^job\.(completed|failed|cancelled)$/);
  if (ending.type !== 'job.completed') throw new Error(`the job ended ${ending.type}`);
  const listed = JSON.parse((await get(`${api}/v1/jobs/${created.body.id}/conversions?limit=100`, { authorization: `Bearer ${key}` })).body.toString()) as {
    data: Array<{ download_url: string }>;
  };
  const sizes: number[] = [];
  await mapLimit(listed.data, AT_ONCE, async (conversion) => {
    sizes.push((await get(conversion.download_url)).body.length);
  });
  return sizes;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const photoPaths = ensurePhotos();
  const photos = photoPaths.map((file) => ({ name: path.basename(file), bytes: readFileSync(file), relative: path.relative(PHOTO_DIR, file) }));
  console.log(`${photos.length} photos from ${PHOTO_DIR}, ${AT_ONCE} at a time, ${PASSES} passes; ${os.availableParallelism()} cores`);

  const peer = await startThumbor();
  const dir = tempDir('bench-peers');
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  // What `npm start` runs: the compiled code.
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const kiln = await startKilnDev({ ...ports, KILN_DATA_DIR: dir.path }, { built: true, timeoutMs: 600_000 });
  const kilnProcesses = (): ProcessUsage[] => processGroupUsage(kiln.pid!);
  const thumborProcesses = (): ProcessUsage[] => processTreeUsage(peer.child.pid!);
  const peaks = { kiln: 0, thumbor: 0 };
  const sampler = setInterval(() => {
    peaks.kiln = Math.max(peaks.kiln, residentMb(kilnProcesses().map((usage) => usage.pid)));
    peaks.thumbor = Math.max(peaks.thumbor, residentMb(thumborProcesses().map((usage) => usage.pid)));
  }, 100);
  try {
    const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
    const api = `http://127.0.0.1:${ports.PORT}`;
    const runs = new Map<string, Run[]>();
    const record = (bench: Case, system: System, run: Run): void => {
      const name = `${bench.label}|${system}`;
      runs.set(name, [...(runs.get(name) ?? []), run]);
    };
    // A warm-up of each, so no pass pays for first-use paths.
    for (const bench of CASES) {
      await sharpLoop(photos.slice(0, 2), bench);
      await thumbor(peer.url, photos.slice(0, 2), bench);
      await kilnSingles(api, key, photos.slice(0, 2), bench);
    }
    const own = (): ProcessUsage[] => processTreeUsage(process.pid).filter((usage) => usage.pid === process.pid);
    for (let pass = 1; pass <= PASSES; pass++) {
      for (const bench of CASES) {
        record(bench, 'sharp loop', await measure(photos, own, () => sharpLoop(photos, bench)));
        record(bench, 'thumbor', await measure(photos, thumborProcesses, () => thumbor(peer.url, photos, bench)));
        record(bench, 'Kiln, single uploads', await measure(photos, kilnProcesses, () => kilnSingles(api, key, photos, bench)));
        record(bench, 'Kiln, one job', await measure(photos, kilnProcesses, () => kilnJob(api, key, photos, bench)));
      }
      console.error(`pass ${pass} of ${PASSES} done`);
    }
    for (const bench of CASES) {
      const baselines = runs.get(`${bench.label}|sharp loop`)!;
      console.log(`\n${bench.label} (medians of ${PASSES} passes; the ratio is to the same pass's sharp loop)\n`);
      console.log('| system | images/s | ratio | CPU per image | mean output |');
      console.log('| --- | --- | --- | --- | --- |');
      for (const system of SYSTEMS) {
        const measured = runs.get(`${bench.label}|${system}`)!;
        const ratio = median(measured.map((run, pass) => run.rate / baselines[pass]!.rate));
        const cpu = median(measured.map((run) => run.cpuSecondsPerImage));
        const bytes = median(measured.map((run) => run.meanBytes));
        console.log(
          `| ${system} | ${median(measured.map((run) => run.rate)).toFixed(2)} | ${ratio.toFixed(2)} | ${cpu.toFixed(3)} s | ${(bytes / 1024).toFixed(0)} KiB |`,
        );
      }
    }
    const kilnMain = kilnProcesses().find((usage) => usage.pid === kiln.pid);
    console.log(
      `\npeak RSS of the whole process tree: thumbor ${peaks.thumbor.toFixed(0)} MiB, Kiln ${peaks.kiln.toFixed(0)} MiB (the Kiln process alone peaked at ${kilnMain?.peakRssMb.toFixed(0)} MiB)`,
    );
  } finally {
    clearInterval(sampler);
    await stopGracefully(kiln, 60_000);
    await peer.stop();
    dir.remove();
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => agent.destroy());
