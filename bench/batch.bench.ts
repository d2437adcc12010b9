/**
 * `npm run bench:batch`: jobs, measured in one run against a baseline from the same run.
 *   1. Photos: one job of Debian's mate-backgrounds photographs (repeated to BENCH_FILES,
 *      default 208) to WebP 1600 px, against a bare sharp loop over the same files at the
 *      same number of conversions at once. Prints images/s for both, the ratio, the time to
 *      the first `job.progress`, CPU per file by process and the Kiln process's peak RSS,
 *      then streams the job's archive and prints its size and the peak RSS after it.
 *   2. Many small files: one job of BENCH_SMALL_FILES (default 2000) 320 px thumbnails of
 *      the photos to WebP 160 px, against the sharp loop over the same files, and proof of
 *      a job of thousands of files: every file converted exactly once (one
 *      conversion.completed and one job.progress per file), the job's chain of runs and
 *      the longest history among them.
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the Kiln process there. Not a test:
 * nothing here pass/fails.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import sharp from 'sharp';
import { request } from '../test/support/http.js';
import { freePort } from '../test/support/postgres.js';
import { startKilnDev, stopGracefully } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';
import { ensurePhotos, PHOTO_DIR } from './photos.js';
import { jobBody, post, sharpLoopRate, waitForJob, type NamedFile } from './job-client.js';
import { cpuByRole, formatRoles, processGroupUsage } from './process-usage.js';

const WIDTH = 1600;
const FILES = Number(process.env.BENCH_FILES ?? 208);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? os.availableParallelism());
/** The small files' own width, and what the job makes of them. */
const THUMB_WIDTH = 320;
const SMALL_OUTPUT_WIDTH = 160;

/** Reads a whole response body and drops it, counting bytes. */
function drain(url: string, key: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${key}` } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function sharpLoop(files: NamedFile[]): Promise<number> {
  return sharpLoopRate(files, WIDTH, concurrency);
}

/** Every item of a paged list route. */
async function everyItem(api: string, key: string, route: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const separator = route.includes('?') ? '&' : '?';
    const page: { data: any[]; next_cursor: string | null } = (
      await request(`${api}${route}${separator}limit=100${cursor ? `&cursor=${cursor}` : ''}`, { key })
    ).body;
    items.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

async function main(): Promise<void> {
  const photos = ensurePhotos();
  const photoBytes = photos.map((file) => readFileSync(file));
  const files: NamedFile[] = Array.from({ length: FILES }, (_, i) => ({
    name: path.basename(photos[i % photos.length]!),
    bytes: photoBytes[i % photos.length]!,
  }));
  console.log(`photos: ${photos.length} JPEGs from ${PHOTO_DIR}, repeated to ${files.length} files`);
  console.log(`machine: ${os.availableParallelism()} cores; conversions at once: ${concurrency}`);

  await sharpLoop(files.slice(0, photos.length)); // warm-up
  const baseline = FILES > 0 ? await sharpLoop(files) : 0;

  const dir = tempDir('bench-batch');
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const kiln = await startKilnDev(
    { ...ports, KILN_DATA_DIR: dir.path, KILN_CONVERT_CONCURRENCY: String(concurrency), KILN_MAX_JOB_FILES: String(Math.max(FILES, SMALL_FILES)) },
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the Kiln process lands there on stop.
    {
      built: true,
      timeoutMs: 600_000,
      nodeArgs: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [],
    },
  );
  const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
  try {
    const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
    const api = `http://127.0.0.1:${ports.PORT}`;
    const auth = { authorization: `Bearer ${key}` };

    // Warm-up: a small job pays for the workers' start-up paths.
    const warm = jobBody(
      photos.slice(0, 2).map((file, i) => ({ name: path.basename(file), bytes: photoBytes[i]! })),
      { output_format: 'webp', width: String(WIDTH) },
    );
    await waitForJob(api, key, (await post(`${api}/v1/jobs`, { ...auth, 'content-type': warm.contentType }, warm.body)).body.id);

    // 1. Photos (BENCH_FILES=0 skips them).
    if (FILES > 0) {
      const upload = jobBody(files, { output_format: 'webp', width: String(WIDTH) });
      const before = processGroupUsage(kiln.pid!);
      const started = Date.now();
      const accepted = await post(`${api}/v1/jobs`, { ...auth, 'content-type': upload.contentType }, upload.body);
      if (accepted.status !== 202) throw new Error(JSON.stringify(accepted.body));
      const acceptedAt = Date.now();
      const job = await waitForJob(api, key, accepted.body.id);
      const cpu = cpuByRole(before, processGroupUsage(kiln.pid!), (usage) =>
        usage.pid === kiln.pid ? 'kiln' : usage.command === 'temporal' ? 'temporal' : 'converters',
      );
      if (job.status !== 'succeeded') throw new Error(JSON.stringify(job));
      const progress = await everyItem(api, key, `/v1/events?subject_id=${job.id}&type=job.progress`);
      const firstProgress = Math.min(...progress.map((event) => Date.parse(event.timestamp)));
      const rate = files.length / ((Date.parse(job.completed_at) - started) / 1000);
      console.log(`\none job of ${files.length} photos → WebP ${WIDTH} px (job concurrency ${job.concurrency})`);
      console.log(`  sharp loop:            ${baseline.toFixed(2)} images/s`);
      console.log(`  Kiln job end to end:   ${rate.toFixed(2)} images/s (upload ${((acceptedAt - started) / 1000).toFixed(1)} s included)`);
      console.log(`  ratio Kiln/sharp:      ${(rate / baseline).toFixed(3)}`);
      console.log(
        `  first job.progress:    ${((firstProgress - started) / 1000).toFixed(2)} s after the request began, ${((firstProgress - acceptedAt) / 1000).toFixed(2)} s after the 202`,
      );
      console.log(`  CPU: ${formatRoles(cpu, files.length, 'file')}`);
      const peakBefore = processGroupUsage(kiln.pid!).find((usage) => usage.pid === kiln.pid)!.peakRssMb;
      const archive = await drain(`${api}/v1/jobs/${job.id}/archive`, key);
      const peakAfter = processGroupUsage(kiln.pid!).find((usage) => usage.pid === kiln.pid)!.peakRssMb;
      console.log(`  peak RSS of the Kiln process: ${peakBefore.toFixed(0)} MiB`);
      console.log(
        `  archive: ${archive.status}, ${(archive.bytes / 2 ** 20).toFixed(1)} MiB streamed; peak RSS after it ${peakAfter.toFixed(0)} MiB (+${(peakAfter - peakBefore).toFixed(0)})`,
      );
    }

    // 2. Thousands of small files: 320 px thumbnails made from the photos, each distinct (its own quality).
    const small: NamedFile[] = await Promise.all(
      Array.from({ length: SMALL_FILES }, async (_, i) => ({
        name: `thumb-${i}.jpg`,
        bytes: await sharp(photoBytes[i % photoBytes.length])
          .resize({ width: THUMB_WIDTH })
          .jpeg({ quality: 60 + (i % 37) })
          .toBuffer(),
      })),
    );
    await sharpLoopRate(small.slice(0, 100), SMALL_OUTPUT_WIDTH, concurrency); // warm-up
    const smallBaseline = await sharpLoopRate(small, SMALL_OUTPUT_WIDTH, concurrency);
    const smallBody = jobBody(small, { output_format: 'webp', width: String(SMALL_OUTPUT_WIDTH) });
    const smallBefore = processGroupUsage(kiln.pid!);
    const smallStarted = Date.now();
    const smallAccepted = await post(`${api}/v1/jobs`, { ...auth, 'content-type': smallBody.contentType }, smallBody.body);
    if (smallAccepted.status !== 202) throw new Error(JSON.stringify(smallAccepted.body));
    const smallAcceptedAt = Date.now();
    const smallJob = await waitForJob(api, key, smallAccepted.body.id);
    const smallCpu = cpuByRole(smallBefore, processGroupUsage(kiln.pid!), (usage) =>
      usage.pid === kiln.pid ? 'kiln' : usage.command === 'temporal' ? 'temporal' : 'converters',
    );
    const seconds = (Date.parse(smallJob.completed_at) - smallStarted) / 1000;
    const smallFiles = await everyItem(api, key, `/v1/jobs/${smallJob.id}/conversions`);
    const fileIds = new Set(smallFiles.map((file) => file.id));
    const completed = (await everyItem(api, key, '/v1/events?type=conversion.completed')).filter((event) => fileIds.has(event.data.conversion_id));
    const smallProgress = await everyItem(api, key, `/v1/events?subject_id=${smallJob.id}&type=job.progress`);
    const progressIndexes = new Set(smallProgress.map((event) => event.data.file.index));
    const client = new Client({ connection });
    const runs: Array<{ runId: string; historyLength: number; status: string }> = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = "job-${smallJob.id}"` })) {
      runs.push({ runId: run.runId, historyLength: run.historyLength, status: run.status.name });
    }
    let ownRuns = 0;
    for await (const run of client.workflow.list({ query: `WorkflowType = "conversionWorkflow"` })) {
      if (fileIds.has(run.workflowId.replace(/^conversion-/, ''))) ownRuns++;
    }
    console.log(
      `\none job of ${SMALL_FILES} ${THUMB_WIDTH} px JPEG thumbnails of the photos → WebP ${SMALL_OUTPUT_WIDTH} px (job concurrency ${smallJob.concurrency})`,
    );
    console.log(`  sharp loop:            ${smallBaseline.toFixed(1)} files/s`);
    console.log(
      `  Kiln job end to end:   ${(SMALL_FILES / seconds).toFixed(1)} files/s, ${seconds.toFixed(1)} s (upload ${((smallAcceptedAt - smallStarted) / 1000).toFixed(1)} s included); status ${smallJob.status}, counts ${JSON.stringify(smallJob.counts)}`,
    );
    console.log(`  ratio Kiln/sharp:      ${(SMALL_FILES / seconds / smallBaseline).toFixed(3)}`);
    console.log(`  CPU: ${formatRoles(smallCpu, SMALL_FILES, 'file')}`);
    console.log(
      `  files succeeded: ${smallFiles.filter((file) => file.status === 'succeeded').length}; conversion.completed events: ${completed.length} for ${new Set(completed.map((event) => event.data.conversion_id)).size} distinct files; job.progress: ${smallProgress.length} for ${progressIndexes.size} distinct indexes`,
    );
    console.log(`  runs of a file's own: ${ownRuns} (a job's files are converted in chunks of its run)`);
    console.log(
      `  the job's runs (continue-as-new every 10,000 files): ${runs.length}, ${runs.map((run) => run.status).join(', ')}; longest history ${Math.max(...runs.map((run) => run.historyLength))} events`,
    );
    const peak = processGroupUsage(kiln.pid!).find((usage) => usage.pid === kiln.pid);
    console.log(`\npeak RSS of the Kiln process: ${peak?.peakRssMb.toFixed(0)} MiB`);
  } finally {
    await connection.close();
    await stopGracefully(kiln, 60_000);
    dir.remove();
  }
}

await main();
