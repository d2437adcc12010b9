import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConversionAbortedError, ConverterPool, residentBytes, type ConversionJob } from '../../src/convert/converter-pool.js';
import type { ConversionOptions } from '../../src/model/conversion-options.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { tempDir } from '../support/temp.js';
import { ConversionInputError } from '../../src/convert/pipeline.js';
import { identify, makeImage } from '../support/images.js';
import { onePixelPng, pdfOfPages } from '../support/hostile.js';
import { waitUntil } from '../support/processes.js';
import { magickImage } from '../support/magick.js';
import { cjxl, heifEnc } from '../support/reference-codecs.js';

// Real child processes running real sharp: cancels and limits are checked by what happens
// to the processes, not by what the pool says.
const limits = { maxInputPixels: 100_000_000, maxOutputPixels: 100_000_000, avifEffort: 6, maxFrames: 1000 };
let pool: ConverterPool;
let tiny: Buffer;
/** 1×1 → 7000×7000 AVIF at effort 6: a minute or more of one core, and over a GiB. */
const heavy = { output_format: 'avif', width: 7000, height: 7000, fit: 'fill', enlarge: true } as const;

const dir = tempDir('converter-pool');
const blobs = new LocalBlobStore(dir.path);
let jobs = 0;

/** A job for `input`, stored as the converter will find it: under a key in the blob store. */
async function jobFor(input: Buffer): Promise<ConversionJob> {
  const key = `job-${++jobs}`;
  await blobs.write(`${key}/input`, input);
  return { blobs: blobs.location, inputKey: `${key}/input`, outputKey: `${key}/output` };
}

/** Converts `input`; answers the facts and the output the converter wrote into the store. */
async function convert(input: Buffer, options: ConversionOptions, run: { signal?: AbortSignal; timeLimitMs: number }) {
  const job = await jobFor(input);
  const facts = await pool.convert(job, options, run);
  return { ...facts, bytes: await blobs.read(job.outputKey) };
}

before(async () => {
  pool = new ConverterPool({ size: 2, limits, memoryLimitBytes: 600 * 2 ** 20 });
  tiny = await onePixelPng();
});
after(async () => {
  await pool.close();
  dir.remove();
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConversionInputError) return error.code;
    if (error instanceof ConversionAbortedError) return 'aborted';
    throw error;
  }
  return 'succeeded';
}

test('converts in a child process, reading the original from the blob store and writing the output there', async () => {
  const output = await convert(await makeImage(300, 200), { output_format: 'webp', width: 150 }, { timeLimitMs: 30_000 });
  assert.deepEqual(await identify(output.bytes), { format: 'webp', width: 150, height: 100 });
  assert.equal(pool.pids().length, 2);
  assert.ok(!pool.pids().includes(process.pid));
});

test('an abort kills the process doing the work and frees its slot at once', async () => {
  const before = pool.pids();
  const abort = new AbortController();
  const running = codeOf(convert(tiny, heavy, { signal: abort.signal, timeLimitMs: 600_000 }));
  await new Promise((r) => setTimeout(r, 500));
  const stoppedAt = Date.now();
  abort.abort();
  assert.equal(await running, 'aborted');
  const killed = before.filter((pid) => !pool.pids().includes(pid));
  assert.equal(killed.length, 1, 'exactly one converter process was replaced');
  await waitUntil(() => !isAlive(killed[0]!), 5000, 'the killed process to be gone', 20);
  const next = await convert(await makeImage(40, 30, 'png'), { output_format: 'jpeg' }, { timeLimitMs: 30_000 });
  assert.deepEqual(await identify(next.bytes), { format: 'jpeg', width: 40, height: 30 });
  assert.ok(Date.now() - stoppedAt < 5000, `a small conversion ran within 5 s of the abort (${Date.now() - stoppedAt} ms)`);
});

test('the time limit stops the work as time_limit_exceeded', async () => {
  // A pool of its own with a ceiling the job cannot reach in time: only the time limit can stop it
  // (under the shared pool's 600 MiB, a fast machine reached the ceiling first).
  const roomy = new ConverterPool({ size: 1, limits, memoryLimitBytes: 16 * 2 ** 30 });
  try {
    // Its converter started first, so what is timed is the conversion, not a process loading sharp.
    await roomy.convert(await jobFor(tiny), { output_format: 'png' }, { timeLimitMs: 30_000 });
    const job = await jobFor(tiny);
    const started = Date.now();
    assert.equal(await codeOf(roomy.convert(job, heavy, { timeLimitMs: 1500 })), 'time_limit_exceeded');
    // The job alone takes a minute or more: ending within seconds is the limit's doing, even on a loaded machine.
    assert.ok(Date.now() - started < 15_000, `stopped near the limit (${Date.now() - started} ms)`);
  } finally {
    await roomy.close();
  }
});

test('the memory ceiling stops the work as memory_limit_exceeded and every process stays under it', async () => {
  let peak = 0;
  const sample = (): void => {
    for (const pid of pool.pids()) peak = Math.max(peak, residentBytes(pid) ?? 0);
  };
  const sampler = setInterval(sample, 10);
  try {
    // Both slots busy with the same memory-hungry job.
    const codes = await Promise.all([1, 2].map(() => codeOf(convert(tiny, heavy, { timeLimitMs: 120_000 }))));
    assert.deepEqual(codes, ['memory_limit_exceeded', 'memory_limit_exceeded']);
  } finally {
    clearInterval(sampler);
  }
  // Polled every 25 ms, so a process can overshoot by what it allocates in that time.
  assert.ok(peak < 700 * 2 ** 20, `peak converter RSS ${Math.round(peak / 2 ** 20)} MiB`);
  assert.ok(peak > 300 * 2 ** 20, 'the job really did need the memory');
});

test('the memory ceiling holds for the HEIC decoder too: a 12 MP HEIC past it is memory_limit_exceeded, a small one converts', async () => {
  const photo = '/usr/share/backgrounds/mate/nature/Aqua.jpg';
  const [small, large] = await Promise.all([
    heifEnc([await magickImage([photo, '-resize', '320x200', 'jpg:-'])]),
    heifEnc([await magickImage([photo, '-resize', '4000x3000!', 'jpg:-'])], ['-q', '50', '-p', 'preset=ultrafast']),
  ]);
  // The decoder's heap (WebAssembly memory) is the process's own: the ceiling sees it as it grows.
  const tight = new ConverterPool({ size: 1, limits, memoryLimitBytes: 200 * 2 ** 20 });
  try {
    const made = await tight.convert(await jobFor(small), { output_format: 'webp' }, { timeLimitMs: 60_000 });
    assert.deepEqual(made.input, { format: 'heic', width: 320, height: 200, bytes: small.length });
    assert.equal(await codeOf(tight.convert(await jobFor(large), { output_format: 'jpeg', width: 1600 }, { timeLimitMs: 120_000 })), 'memory_limit_exceeded');
  } finally {
    await tight.close();
  }
});

test('the ceiling holds for the JPEG XL and PDF decoders; a process a conversion left above half its ceiling is replaced', async () => {
  const photo = '/usr/share/backgrounds/mate/nature/Aqua.jpg';
  const [small, large] = await Promise.all([
    cjxl(await magickImage([photo, '-resize', '320x200', 'png:-'])),
    cjxl(await magickImage([photo, '-resize', '4000x3000!', 'png:-']), ['-e', '1', '-d', '2']),
  ]);
  // wasm-vips runs its threads as Node workers: a process that has decoded a JPEG XL holds
  // about 280 MiB (measured), so this ceiling lets a small one through and retires the
  // process after it (above 225 MiB); a 12 MP one needs more than the whole ceiling.
  const tight = new ConverterPool({ size: 1, limits, memoryLimitBytes: 450 * 2 ** 20 });
  try {
    const [before] = tight.pids();
    const made = await tight.convert(await jobFor(small), { output_format: 'webp' }, { timeLimitMs: 60_000 });
    assert.deepEqual(made.input, { format: 'jxl', width: 320, height: 200, bytes: small.length });
    const [after] = tight.pids();
    assert.notEqual(after, before, 'the process the JPEG XL decode left large was replaced');
    await waitUntil(() => !isAlive(before!), 10_000, 'the replaced process to exit');
    assert.equal(await codeOf(tight.convert(await jobFor(large), { output_format: 'jpeg', width: 1600 }, { timeLimitMs: 120_000 })), 'memory_limit_exceeded');

    // A page of 7000x7000 points at 72 dpi is 49 million pixels drawn: 196 MiB of bitmap, then sharp's copy.
    const [plain] = tight.pids();
    const page = await tight.convert(await jobFor(pdfOfPages(1)), { output_format: 'png' }, { timeLimitMs: 60_000 });
    assert.deepEqual(page.input, { format: 'pdf', width: 200, height: 100, bytes: pdfOfPages(1).length, pages: 1 });
    assert.equal(tight.pids()[0], plain, 'a small page leaves the process small: it is kept');
    assert.equal(
      await codeOf(tight.convert(await jobFor(pdfOfPages(1, 7000, 7000)), { output_format: 'jpeg', width: 100 }, { timeLimitMs: 120_000 })),
      'memory_limit_exceeded',
    );
  } finally {
    await tight.close();
  }
});

test('a converter process that dies is replaced; the conversion fails retryably', async () => {
  // Both processes started and warm, so the kill below lands mid-conversion.
  await Promise.all([1, 2].map(async () => convert(tiny, { output_format: 'png' }, { timeLimitMs: 30_000 })));
  const running = codeOf(convert(tiny, heavy, { timeLimitMs: 600_000 }));
  await new Promise((r) => setTimeout(r, 300));
  const victims = pool.pids();
  for (const pid of victims) process.kill(pid, 'SIGKILL');
  await assert.rejects(running, /converter process died mid-conversion/);
  // The idle one's exit reaches the pool a moment later, as an event.
  await waitUntil(() => pool.pids().every((pid) => !victims.includes(pid)), 5000, 'both killed processes to leave the pool', 20);
  const output = await convert(await makeImage(20, 10), { output_format: 'png' }, { timeLimitMs: 30_000 });
  assert.equal(output.output.width, 20);
});

test('conversions waiting for a converter are served by fairness key in turn, not in arrival order', { timeout: 120_000 }, async () => {
  const small = await makeImage(64, 48, 'png');
  const order: string[] = [];
  // Both converters busy with conversions that end only when aborted: everything after them waits.
  const holds = [new AbortController(), new AbortController()];
  const held = holds.map(async (control) => codeOf(pool.convert(await jobFor(tiny), heavy, { signal: control.signal, timeLimitMs: 120_000 })));
  await waitUntil(() => pool.pids().length === 2, 10_000, 'two converters');
  const jobs = await Promise.all(Array.from({ length: 5 }, () => jobFor(small)));
  const queued = (key: string, label: string, job: ConversionJob) =>
    pool.convert(job, { output_format: 'webp' }, { timeLimitMs: 30_000, fairnessKey: key }).then(() => order.push(label));
  // The quiet key's is sent after all of the busy key's: in arrival order it would be served last.
  const busy = ['busy-1', 'busy-2', 'busy-3', 'busy-4'].map((label, i) => queued('busy', label, jobs[i]!));
  const quiet = queued('quiet', 'quiet', jobs[4]!);
  // Let one converter go: it serves the waiters one at a time, taking the keys in turn.
  holds[0]!.abort();
  await Promise.all([...busy, quiet]);
  holds[1]!.abort();
  await Promise.all(held);
  assert.deepEqual(order.slice(0, 2).sort(), ['busy-1', 'quiet'], `served in the order ${order.join(', ')}`);
});
