/**
 * `npm run bench`: the same real photographs (Debian's mate-backgrounds) converted to WebP
 * at 1600 px wide, twice in one run:
 *   1. baseline: a bare sharp loop with as many conversions at once as Kiln's kiln-convert queue;
 *   2. Kiln end to end: `kiln dev` in a child process, every file submitted through the HTTP
 *      API, each a Temporal workflow, until all have succeeded.
 * Prints images/s for both and the ratio Kiln/sharp. Not a test: nothing here pass/fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { request, uploadForm } from '../test/support/http.js';
import { freePort } from '../test/support/postgres.js';
import { spawnKiln, stopGracefully, waitUntil } from '../test/support/processes.js';
import { tempDir } from '../test/support/temp.js';

const PHOTO_DIR = '/usr/share/backgrounds/mate';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WIDTH = 1600;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? os.availableParallelism());

function ensurePhotos(): string[] {
  if (!existsSync(PHOTO_DIR)) {
    console.error('installing Debian package mate-backgrounds (real photographs for the benchmark)...');
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const apt = (args: string[]) =>
      execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), ...args], {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', '--no-install-recommends', 'mate-backgrounds']);
  }
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : /\.jpe?g$/i.test(name) ? [full] : [];
    });
  return walk(PHOTO_DIR).sort();
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function benchSharp(files: Buffer[]): Promise<number> {
  const started = performance.now();
  await mapLimit(files, concurrency, async (file) => {
    await sharp(file).rotate().resize({ width: WIDTH }).webp().toBuffer();
  });
  return files.length / ((performance.now() - started) / 1000);
}

/** CPU time of every process in a process group, from ps: shows where Kiln's overhead goes. */
function cpuByProcess(groupId: number): string {
  const rows = execFileSync('ps', ['-o', 'pgid=,time=,comm=', '-e'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pgid]) => Number(pgid) === groupId);
  return rows.map(([, time, command]) => `  ${command}: ${time}`).join('\n');
}

async function benchKiln(files: Array<{ name: string; bytes: Buffer }>): Promise<number> {
  const dir = tempDir('bench');
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const kiln = spawnKiln(['dev'], { ...ports, KILN_DATA_DIR: dir.path, KILN_CONVERT_CONCURRENCY: String(concurrency) });
  try {
    await waitUntil(() => kiln.output().includes('Kiln is running.') || kiln.exitCode !== null, 600_000, 'kiln dev to start');
    if (kiln.exitCode !== null) throw new Error(kiln.output());
    const key = readFileSync(path.join(dir.path, 'dev-api-key'), 'utf8').trim();
    const api = `http://127.0.0.1:${ports.PORT}`;
    // Warm-up: the first conversion pays for worker start-up paths, not per-image cost.
    const warm = await request(`${api}/v1/conversions`, {
      method: 'POST',
      key,
      body: uploadForm(files[0]!.bytes, files[0]!.name, { output_format: 'webp', width: String(WIDTH) }),
    });
    await waitUntil(async () => (await request(`${api}/v1/conversions/${warm.body.id}`, { key })).body.status === 'succeeded', 60_000, 'warm-up');

    const started = Date.now();
    const ids: string[] = [];
    // A client uploads a few files at once, as any uploader would.
    await mapLimit(files, 4, async (file) => {
      const response = await request(`${api}/v1/conversions`, {
        method: 'POST',
        key,
        body: uploadForm(file.bytes, file.name, { output_format: 'webp', width: String(WIDTH) }),
      });
      if (response.status !== 202) throw new Error(JSON.stringify(response.body));
      ids.push(response.body.id);
    });
    const pending = new Set(ids);
    let finishedAt = 0;
    await waitUntil(
      async () => {
        const page = await request(`${api}/v1/conversions?status=succeeded&limit=100`, { key });
        for (const row of page.body.data) {
          if (pending.delete(row.id)) finishedAt = Math.max(finishedAt, Date.parse(row.completed_at));
        }
        const failed = await request(`${api}/v1/conversions?status=failed&limit=1`, { key });
        if (failed.body.data.length > 0) throw new Error(`a conversion failed: ${JSON.stringify(failed.body.data[0])}`);
        return pending.size === 0;
        // The end time is the last completed_at Kiln recorded, so this polling interval does not skew the figure.
      },
      600_000,
      'all conversions',
      1000,
    );
    const rate = files.length / ((finishedAt - started) / 1000);
    console.log(`CPU seconds used by the kiln dev process group since start:\n${cpuByProcess(kiln.pid!)}`);
    return rate;
  } finally {
    await stopGracefully(kiln, 60_000);
    dir.remove();
  }
}

const photos = ensurePhotos();
const files = Array.from({ length: ROUNDS }, () => photos)
  .flat()
  .map((file) => ({ name: path.basename(file), bytes: readFileSync(file) }));
console.log(`photos: ${photos.length} JPEGs from ${PHOTO_DIR}, ${ROUNDS} rounds = ${files.length} conversions to WebP ${WIDTH} px wide`);
console.log(`machine: ${os.availableParallelism()} cores; conversions at once: ${concurrency}`);
console.log(
  `libvips threads per image: ${sharp.concurrency()} (glibc malloc${process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : ''}; sharp uses 1 thread on glibc unless jemalloc is preloaded)`,
);

await benchSharp(files.slice(0, photos.length).map((f) => f.bytes)); // warm-up
const sharpRate = await benchSharp(files.map((f) => f.bytes));
console.log(`sharp loop:       ${sharpRate.toFixed(2)} images/s`);
const kilnRate = await benchKiln(files);
console.log(`Kiln end to end:  ${kilnRate.toFixed(2)} images/s`);
console.log(`ratio Kiln/sharp: ${(kilnRate / sharpRate).toFixed(3)}`);
