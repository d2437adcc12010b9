import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';
import { isJxl } from '../../src/convert/sniff.js';

/**
 * Encoders and decoders nobody here wrote, from Debian (scripts/install-system-deps.sh):
 * libheif's `heif-enc` and `heif-convert`, libjxl's `cjxl` and `djxl` (0.7, against the
 * 0.12 Kiln carries), `img2pdf`, and poppler's `pdftoppm`. Tests make their files with
 * them and check Kiln's pixels against theirs; ImageMagick reads the pixels of both sides.
 * Asynchronous, so a Kiln in the test's own process keeps serving while they run.
 */

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(' ')} failed: ${stderr}`)) : resolve(),
    );
  });
}

/** Where an image's bytes say it is a PNG, GIF or (else) JPEG: the extension the tools go by. */
const extensionOf = (image: Buffer): string => (image[0] === 0x89 ? 'png' : image[0] === 0x47 ? 'gif' : 'jpg');

/**
 * Runs `command` over `inputs`, each written to a file named as given, and answers the
 * file it writes at the output path it is handed.
 */
async function throughFiles(
  inputs: Array<[name: string, bytes: Buffer]>,
  outputName: string,
  command: (inputs: string[], output: string) => [string, string[]],
): Promise<Buffer> {
  const dir = tempDir('reference-codec');
  try {
    const files = inputs.map(([name, bytes]) => {
      const file = path.join(dir.path, name);
      writeFileSync(file, bytes);
      return file;
    });
    const output = path.join(dir.path, outputName);
    await run(...command(files, output));
    return readFileSync(output);
  } finally {
    dir.remove();
  }
}

/** A HEIC file made by `heif-enc` from `inputs` (JPEG or PNG, each a top-level image, the first primary). */
export function heifEnc(inputs: Buffer[], args: string[] = []): Promise<Buffer> {
  const named = inputs.map((bytes, i): [string, Buffer] => [`in${i}.${extensionOf(bytes)}`, bytes]);
  return throughFiles(named, 'out.heic', (files, output) => ['heif-enc', [...args, ...files, '-o', output]]);
}

/** The primary image of a HEIC file as `heif-convert` (libheif's own tool) decodes it, as PNG. */
export function heifConvert(heic: Buffer): Promise<Buffer> {
  return throughFiles([['in.heic', heic]], 'out.png', ([input], output) => ['heif-convert', [input!, output]]);
}

/** A JPEG XL file made by `cjxl` from a PNG, JPEG or GIF (a JPEG is recompressed losslessly unless `args` say otherwise). */
export function cjxl(image: Buffer, args: string[] = []): Promise<Buffer> {
  return throughFiles([[`in.${extensionOf(image)}`, image]], 'out.jxl', ([input], output) => ['cjxl', [input!, output, ...args]]);
}

/** A JPEG XL file as `djxl` (libjxl's own tool) decodes it, as PNG (its first frame, for an animation). */
export function djxl(jxl: Buffer): Promise<Buffer> {
  return throughFiles([['in.jxl', jxl]], 'out.png', ([input], output) => ['djxl', [input!, output]]);
}

/** A PDF made by `img2pdf`: one page per image, each at `dpi` (so a page is pixels × 72 / dpi points). */
export function img2pdf(images: Buffer[], dpi = 72): Promise<Buffer> {
  const named = images.map((bytes, i): [string, Buffer] => [`page${i}.${extensionOf(bytes)}`, bytes]);
  return throughFiles(named, 'out.pdf', (files, output) => ['img2pdf', ['--imgsize', `${dpi}dpi`, ...files, '-o', output]]);
}

/** Page `page` (from 0) of a PDF as poppler's `pdftoppm` draws it at `dpi`, as PNG. */
export function pdftoppm(pdf: Buffer, page: number, dpi: number): Promise<Buffer> {
  const pageArgs = ['-f', String(page + 1), '-l', String(page + 1)];
  return throughFiles([['in.pdf', pdf]], 'out.png', ([input], output) => [
    'pdftoppm',
    ['-png', '-singlefile', '-r', String(dpi), ...pageArgs, input!, output.replace(/\.png$/, '')],
  ]);
}

/** An output as ImageMagick can read it: JPEG XL (which Debian's ImageMagick 6 cannot) through `djxl` first. */
export async function readableByMagick(image: Buffer): Promise<Buffer> {
  return isJxl(image) ? djxl(image) : image;
}

/** Width, height and 8-bit RGB (or RGBA with `alpha`) pixels of an image, as ImageMagick decodes it. */
export async function magickPixels(image: Buffer, alpha = false): Promise<{ width: number; height: number; data: Buffer }> {
  const dir = tempDir('magick-pixels');
  try {
    const input = path.join(dir.path, 'in');
    writeFileSync(input, image);
    const [size, data] = [path.join(dir.path, 'size.txt'), path.join(dir.path, 'pixels')];
    await run('convert', [input, '-format', '%w %h', '-write', `info:${size}`, '-depth', '8', `${alpha ? 'rgba' : 'rgb'}:${data}`]);
    const [width, height] = readFileSync(size, 'utf8').trim().split(' ').map(Number);
    return { width: width!, height: height!, data: readFileSync(data) };
  } finally {
    dir.remove();
  }
}

/** The colour (RGB) of the pixel at (x, y) of an image, as ImageMagick reads it. */
export async function pixelAt(image: Buffer, x: number, y: number): Promise<number[]> {
  const { width, data } = await magickPixels(image);
  return [...data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
}

/** How far apart two decodings of one picture are: the mean absolute difference per sample, and the largest. */
export function pixelDifference(a: Buffer, b: Buffer): { mean: number; max: number } {
  if (a.length !== b.length) throw new Error(`${a.length} samples against ${b.length}`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = Math.abs(a[i]! - b[i]!);
    sum += difference;
    if (difference > max) max = difference;
  }
  return { mean: sum / a.length, max };
}
