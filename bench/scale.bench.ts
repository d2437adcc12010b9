/**
 * `npm run bench:scale`: Kiln on its production topology (the real Temporal server on
 * Postgres, S3 on versitygw, `kiln api` and N `kiln worker` processes, started as
 * `npm run topology` starts them) with 1 worker, then 2, then 3 (BENCH_WORKERS), each
 * converting one job of the same photographs (Debian's mate-backgrounds, repeated to
 * BENCH_FILES, default 96) to WebP 1600 px. For each: images/s from the request to the
 * job's end, the ratio to the bare sharp loop measured in the same run on the same files,
 * and the CPU each part spent per file; then the same files as single uploads (two
 * clients per converter, each holding its request with `Prefer: wait` until its
 * conversion ends), with the CPU each part spent per conversion (goal 7 of the
 * Performance issue reads the Temporal server's). From the job's CPU per file it projects what N workers
 * on N machines would reach, and says where this machine's cores run out.
 * Not a test: nothing here pass/fails.
 */
import { chmodSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTopology, topologyApiKey, type Topology } from '../tools/topology/topology.js';
import { tempDir } from '../test/support/temp.js';
import { jobBody, post, sharpLoopRate, waitForJob, type NamedFile } from './job-client.js';
import { ensurePhotos, mapLimit, PHOTO_DIR } from './photos.js';
import { cpuByRole, processTreeUsage, type ProcessUsage } from './process-usage.js';

const WIDTH = 1600;
const FILES = Number(process.env.BENCH_FILES ?? 96);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2,3').split(',').map(Number);
const cores = os.availableParallelism();
/** Clients sending single uploads per worker, each waiting for its conversion: two per converter, as a job's window. */
const SINGLE_CLIENTS_PER_WORKER = 2 * cores;

interface Measured {
  workers: number;
  rate: number;
  /** CPU seconds per file by part: worker (with its converters), api, temporal, postgres, s3. */
  cpu: Map<string, number>;
  /** The same files as single uploads from `clients` at once, each its own workflow run. */
  singles: { clients: number; rate: number; cpu: Map<string, number> };
}

/** Every process of the topology with the part it belongs to (each part is a process and its descendants). */
function usageByPart(topology: Topology): Array<ProcessUsage & { part: string }> {
  const parts = [
    ['api', topology.api],
    ['temporal', topology.temporal],
    ['postgres', topology.postgres],
    ['s3', topology.s3],
    ...topology.workers.map((worker) => ['worker', worker] as const),
  ] as const;
  return parts.flatMap(([part, process]) => (process.pid ? processTreeUsage(process.pid).map((usage) => ({ ...usage, part })) : []));
}

/** CPU seconds each part spent per file between two readings of the topology. */
function cpuPerFile(before: Array<ProcessUsage & { part: string }>, after: Array<ProcessUsage & { part: string }>, files: number): Map<string, number> {
  const parts = new Map(after.map((usage) => [usage.pid, usage.part]));
  const cpu = cpuByRole(before, after, (usage) => parts.get(usage.pid)!);
  for (const [part, seconds] of cpu) cpu.set(part, seconds / files);
  return cpu;
}

async function measure(workers: number, files: NamedFile[]): Promise<Measured> {
  const dir = tempDir(`bench-scale-${workers}`);
  // Postgres runs as its own user, which must reach its directory under this one.
  chmodSync(dir.path, 0o755);
  const topology = await startTopology({
    dir: dir.path,
    workers,
    ports: 'free',
    ui: false,
    // The API's window per job: two per converter of every worker (each has one converter per core).
    kilnEnv: { KILN_JOB_CONCURRENCY: String(2 * workers * cores), KILN_MAX_JOB_FILES: String(FILES) },
    log: () => undefined,
  });
  try {
    const key = await topologyApiKey(topology);
    const api = topology.apiUrl;
    const auth = { authorization: `Bearer ${key}` };
    const send = async (batch: NamedFile[]): Promise<any> => {
      const upload = jobBody(batch, { output_format: 'webp', width: String(WIDTH) });
      const accepted = await post(`${api}/v1/jobs`, { ...auth, 'content-type': upload.contentType }, upload.body);
      if (accepted.status !== 202) throw new Error(JSON.stringify(accepted.body));
      return accepted.body;
    };
    // Warm-up: every worker's start-up paths, a converter per core each.
    await waitForJob(api, key, (await send(files.slice(0, 2 * workers * cores))).id);

    const before = usageByPart(topology);
    const started = Date.now();
    const accepted = await send(files);
    const job = await waitForJob(api, key, accepted.id);
    if (job.status !== 'succeeded') throw new Error(JSON.stringify(job));
    const rate = files.length / ((Date.parse(job.completed_at) - started) / 1000);
    const cpu = cpuPerFile(before, usageByPart(topology), files.length);

    // The same files as single uploads, each answered when its conversion ends (Prefer: wait).
    const clients = SINGLE_CLIENTS_PER_WORKER * workers;
    const singlesBefore = usageByPart(topology);
    const singlesStarted = performance.now();
    await mapLimit(files, clients, async (file) => {
      const upload = jobBody([file], { output_format: 'webp', width: String(WIDTH) });
      const answer = await post(`${api}/v1/conversions`, { ...auth, 'content-type': upload.contentType, prefer: 'wait=60' }, upload.body);
      if (answer.status !== 200 || answer.body.status !== 'succeeded') throw new Error(JSON.stringify(answer.body));
    });
    const singlesRate = files.length / ((performance.now() - singlesStarted) / 1000);
    const singlesCpu = cpuPerFile(singlesBefore, usageByPart(topology), files.length);
    return { workers, rate, cpu, singles: { clients, rate: singlesRate, cpu: singlesCpu } };
  } finally {
    await topology.stop();
    dir.remove();
  }
}

const photos = ensurePhotos();
const files: NamedFile[] = Array.from({ length: FILES }, (_, i) => {
  const file = photos[i % photos.length]!;
  return { name: path.basename(file), bytes: readFileSync(file) };
});
console.log(`photos: ${photos.length} JPEGs from ${PHOTO_DIR}, repeated to ${files.length} files → WebP ${WIDTH} px`);
console.log(`machine: ${cores} cores; each worker runs ${cores} converters (KILN_CONVERT_CONCURRENCY's default)`);

await sharpLoopRate(files.slice(0, photos.length), WIDTH, cores); // warm-up
const baseline = await sharpLoopRate(files, WIDTH, cores);
console.log(`sharp loop (${cores} at once): ${baseline.toFixed(2)} images/s\n`);

const formatCpu = (cpu: Map<string, number>): string =>
  [...cpu.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([part, seconds]) => `${part} ${(seconds * 1000).toFixed(0)} ms`)
    .join(', ');

const results: Measured[] = [];
for (const workers of WORKER_COUNTS) {
  const measured = await measure(workers, files);
  results.push(measured);
  console.log(
    `${workers} worker(s), one job: ${measured.rate.toFixed(2)} images/s, ratio to the sharp loop ${(measured.rate / baseline).toFixed(3)}; CPU per file: ${formatCpu(measured.cpu)}`,
  );
  console.log(
    `${workers} worker(s), single uploads (${measured.singles.clients} clients): ${measured.singles.rate.toFixed(2)} images/s, ratio ${(measured.singles.rate / baseline).toFixed(3)}; CPU per conversion: ${formatCpu(measured.singles.cpu)}`,
  );
}

// Where this machine's cores run out, and what machines of their own would reach.
const one = results[0]!;
const workerCpu = one.cpu.get('worker') ?? 0;
const sharedCpu = [...one.cpu.entries()].filter(([part]) => part !== 'worker').reduce((sum, [, seconds]) => sum + seconds, 0);
const totalCpu = workerCpu + sharedCpu;
console.log(
  `\nCPU per file with 1 worker: ${(totalCpu * 1000).toFixed(0)} ms in all (worker and its converters ${(workerCpu * 1000).toFixed(0)} ms; API, Temporal, Postgres and S3 ${(sharedCpu * 1000).toFixed(0)} ms)`,
);
console.log(
  `this machine's ${cores} cores bound the whole topology at ${(cores / totalCpu).toFixed(2)} images/s; best measured: ${Math.max(...results.map((r) => r.rate)).toFixed(2)} images/s`,
);
console.log(`projection, each worker on a ${cores}-core machine of its own and the shared parts on another ${cores}-core machine:`);
const perPart = [...one.cpu.entries()]
  .filter(([part]) => part !== 'worker')
  .map(([part, seconds]) => ({ part, bound: cores / seconds }))
  .sort((a, b) => a.bound - b.bound);
console.log(
  `  each shared part on a ${cores}-core machine of its own instead: ${perPart.map(({ part, bound }) => `${part} ${bound.toFixed(1)}`).join(', ')} images/s; ${perPart[0]!.part} runs out first`,
);
for (const machines of [1, 2, 4, 8, 16]) {
  const byWorkers = (machines * cores) / workerCpu;
  const byShared = cores / sharedCpu;
  console.log(
    `  ${String(machines).padStart(2)} worker machine(s): ${Math.min(byWorkers, byShared).toFixed(1)} images/s (${byWorkers <= byShared ? 'the workers' : 'the shared parts'} bound it; workers alone ${byWorkers.toFixed(1)}, shared parts alone ${byShared.toFixed(1)})`,
  );
}
