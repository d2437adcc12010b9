/**
 * `npm run bench:formats`: the decoders beside sharp against Debian's native tools, on the
 * mate-backgrounds photos (2560x1600 and the like), one image at a time, one thread each.
 *
 *   JPEG XL to JPEG 1600 px   Kiln's pipeline (libjxl 0.12 in wasm-vips, then sharp)
 *                             against djxl 0.7 (native) writing PPM, then sharp
 *   PDF page to JPEG 1600 px  Kiln's pipeline (PDFium in WebAssembly at 72 dpi, then sharp)
 *                             against pdftoppm (poppler, native) writing PPM, then sharp
 *   JPEG to JPEG XL 1600 px   Kiln's pipeline (sharp, then libjxl 0.12 in wasm-vips)
 *                             against sharp writing PPM, then cjxl 0.7 (native), distance 1
 *
 * The photos are made JPEG XL (cjxl, distance 1) and PDF (img2pdf, a pixel per point) once
 * and kept under ~/.cache/kiln. Prints images/s for each side, the ratio (Kiln over the
 * native baseline, measured in the same run), and the peak RSS of the process while
 * Kiln's side runs (the native tools run in processes of their own). Not a test:
 * nothing here fails on a figure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { convertImage } from '../src/convert/pipeline.js';
import { releaseDroppedHeaps } from '../src/convert/wasm-instances.js';
import { ensurePhotos } from './photos.js';

sharp.cache(false);
sharp.concurrency(1);
const WIDTH = 1600;
const limits = { maxInputPixels: 100_000_000, maxOutputPixels: 100_000_000, avifEffort: 2, maxFrames: 100 };
const cache = path.join(os.homedir(), '.cache', 'kiln');
const scratch = path.join(os.tmpdir(), `kiln-bench-formats-${process.pid}`);
mkdirSync(scratch, { recursive: true });

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(command, args, (error, _out, stderr) => (error ? reject(new Error(`${command}: ${stderr}`)) : resolve())));
}

/** Each photo made into another format once by `make`, kept under ~/.cache/kiln/`name`. */
function converted(photos: string[], name: string, extension: string, make: (photo: string, out: string) => [string, string[]]): string[] {
  const dir = path.join(cache, name);
  mkdirSync(dir, { recursive: true });
  return photos.map((photo) => {
    const out = path.join(dir, `${path.basename(photo, path.extname(photo))}.${extension}`);
    if (!existsSync(out)) {
      const [command, args] = make(photo, out);
      execFileSync(command, args, { stdio: 'ignore' });
    }
    return out;
  });
}

/** A binary PPM (P6, 8-bit) as sharp's raw input. */
function ppm(file: string): { data: Buffer; raw: { width: number; height: number; channels: 3 } } {
  const bytes = readFileSync(file);
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(bytes.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error(`${file} is not an 8-bit PPM`);
  return { data: bytes.subarray(header[0].length), raw: { width: Number(header[1]), height: Number(header[2]), channels: 3 } };
}

/** A native decoder writing `<out>.ppm`, then sharp making the JPEG from its pixels. */
function nativeThenSharp(command: (file: string, out: string) => [string, string[]]): Side['convert'] {
  return async (file) => {
    const out = path.join(scratch, 'decoded');
    await run(...command(file, out));
    const { data, raw } = ppm(`${out}.ppm`);
    await sharp(data, { raw }).resize({ width: WIDTH }).jpeg().toBuffer();
  };
}

interface Side {
  label: string;
  convert: (file: string) => Promise<void>;
}

async function imagesPerSecond(files: string[], side: Side): Promise<number> {
  await side.convert(files[0]!); // warm: modules compiled, threads started
  const started = performance.now();
  for (const file of files) await side.convert(file);
  return files.length / ((performance.now() - started) / 1000);
}

const peakRssMb = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
/** Starts the peak RSS count afresh (Linux: writing 5 to clear_refs resets VmHWM). */
const resetPeak = (): void => writeFileSync('/proc/self/clear_refs', '5');

async function main(): Promise<void> {
  const photos = ensurePhotos().slice(0, 16);
  const jxls = converted(photos, 'bench-jxl', 'jxl', (photo, out) => ['cjxl', [photo, out, '-d', '1', '--lossless_jpeg=0']]);
  const pdfs = converted(photos, 'bench-pdf', 'pdf', (photo, out) => ['img2pdf', ['--imgsize', '72dpi', photo, '-o', out]]);
  const kiln =
    (format: 'jpeg' | 'jxl'): Side['convert'] =>
    async (file) => {
      await convertImage(readFileSync(file), { output_format: format, width: WIDTH }, limits);
      releaseDroppedHeaps();
    };
  const cases: Array<{ label: string; files: string[]; kiln: Side; native: Side }> = [
    {
      label: `JPEG XL to JPEG ${WIDTH} px`,
      files: jxls,
      kiln: { label: 'Kiln (libjxl 0.12, wasm-vips)', convert: kiln('jpeg') },
      native: { label: 'djxl 0.7 (native) + sharp', convert: nativeThenSharp((file, out) => ['djxl', [file, `${out}.ppm`, '--num_threads=1']]) },
    },
    {
      label: `PDF page to JPEG ${WIDTH} px`,
      files: pdfs,
      kiln: { label: 'Kiln (PDFium, WebAssembly)', convert: kiln('jpeg') },
      native: {
        label: 'pdftoppm (poppler, native) + sharp',
        convert: nativeThenSharp((file, out) => ['pdftoppm', ['-r', '72', '-f', '1', '-l', '1', '-singlefile', file, out]]),
      },
    },
    {
      label: `JPEG to JPEG XL ${WIDTH} px`,
      files: photos,
      kiln: { label: 'Kiln (sharp, libjxl 0.12 wasm-vips)', convert: kiln('jxl') },
      native: {
        label: 'sharp + cjxl 0.7 (native)',
        convert: async (file) => {
          const out = path.join(scratch, 'resized.ppm');
          const { data, info } = await sharp(file).autoOrient().resize({ width: WIDTH }).raw().toBuffer({ resolveWithObject: true });
          writeFileSync(out, Buffer.concat([Buffer.from(`P6\n${info.width} ${info.height}\n255\n`), data]));
          await run('cjxl', [out, path.join(scratch, 'out.jxl'), '-d', '1', '-e', '7', '--num_threads=1']);
        },
      },
    },
  ];
  console.log(`${photos.length} photos, one at a time, one thread each side\n`);
  console.log('| case | Kiln images/s | native images/s | ratio | peak RSS, Kiln’s side |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const bench of cases) {
    // Interleaved, twice, best of each: the machine's other work falls on both sides alike.
    const ours: number[] = [];
    const theirs: number[] = [];
    let peak = 0;
    for (let pass = 0; pass < 2; pass++) {
      resetPeak();
      ours.push(await imagesPerSecond(bench.files, bench.kiln));
      peak = Math.max(peak, peakRssMb());
      theirs.push(await imagesPerSecond(bench.files, bench.native));
    }
    const [k, n] = [Math.max(...ours), Math.max(...theirs)];
    console.log(
      `| ${bench.label}: ${bench.kiln.label} / ${bench.native.label} | ${k.toFixed(2)} | ${n.toFixed(2)} | ${(k / n).toFixed(2)} | ${Math.round(peak)} MiB |`,
    );
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    rmSync(scratch, { recursive: true, force: true });
    // wasm-vips' worker threads keep the process alive.
    setImmediate(() => process.exit());
  });
