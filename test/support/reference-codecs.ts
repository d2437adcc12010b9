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

/** A HEIC file made by `heif-enc` from `inputs` (JPEG or PNG, each a top-level image, the first primary). */
export async function heifEnc(inputs: Buffer[], args: string[] = []): Promise<Buffer> {
  const dir = tempDir('heif-enc');
  try {
    const files = inputs.map((bytes, i) => {
      const file = path.join(dir.path, `in${i}.${bytes[0] === 0x89 ? 'png' : 'jpg'}`);
      writeFileSync(file, bytes);
      return file;
    });
    const out = path.join(dir.path, 'out.heic');
    await run('heif-enc', [...args, ...files, '-o', out]);
    return readFileSync(out);
  } finally {
    dir.remove();
  }
}

/** The primary image of a HEIC file as `heif-convert` (libheif's own tool) decodes it, as PNG. */
export async function heifConvert(heic: Buffer): Promise<Buffer> {
  const dir = tempDir('heif-convert');
  try {
    const [input, out] = [path.join(dir.path, 'in.heic'), path.join(dir.path, 'out.png')];
    writeFileSync(input, heic);
    await run('heif-convert', [input, out]);
    return readFileSync(out);
  } finally {
    dir.remove();
  }
}

/** Runs `command` over `input` written to a file named `inputName`, and answers the file it writes as `outputName`. */
async function throughFiles(
  input: Buffer,
  inputName: string,
  outputName: string,
  command: (input: string, output: string) => [string, string[]],
): Promise<Buffer> {
  const dir = tempDir('reference-codec');
  try {
    const [from, to] = [path.join(dir.path, inputName), path.join(dir.path, outputName)];
    writeFileSync(from, input);
    await run(...command(from, to));
    return readFileSync(to);
  } finally {
    dir.remove();
  }
}

/** A JPEG XL file made by `cjxl` from a PNG, JPEG or GIF (a JPEG is recompressed losslessly unless `args` say otherwise). */
export function cjxl(image: Buffer, args: string[] = []): Promise<Buffer> {
  const extension = image[0] === 0x89 ? 'png' : image[0] === 0x47 ? 'gif' : 'jpg';
  return throughFiles(image, `in.${extension}`, 'out.jxl', (input, output) => ['cjxl', [input, output, ...args]]);
}

/** A JPEG XL file as `djxl` (libjxl's own tool) decodes it, as PNG (its first frame, for an animation). */
export function djxl(jxl: Buffer): Promise<Buffer> {
  return throughFiles(jxl, 'in.jxl', 'out.png', (input, output) => ['djxl', [input, output]]);
}

/** A PDF made by `img2pdf`: one page per image, each at `dpi` (so a page is pixels × 72 / dpi points). */
export async function img2pdf(images: Buffer[], dpi = 72): Promise<Buffer> {
  const dir = tempDir('img2pdf');
  try {
    const files = images.map((bytes, i) => {
      const file = path.join(dir.path, `page${i}.${bytes[0] === 0x89 ? 'png' : 'jpg'}`);
      writeFileSync(file, bytes);
      return file;
    });
    const out = path.join(dir.path, 'out.pdf');
    await run('img2pdf', ['--imgsize', `${dpi}dpi`, ...files, '-o', out]);
    return readFileSync(out);
  } finally {
    dir.remove();
  }
}

/** Page `page` (from 0) of a PDF as poppler's `pdftoppm` draws it at `dpi`, as PNG. */
export function pdftoppm(pdf: Buffer, page: number, dpi: number): Promise<Buffer> {
  return throughFiles(pdf, 'in.pdf', 'out.png', (input, output) => [
    'pdftoppm',
    ['-png', '-singlefile', '-r', String(dpi), '-f', String(page + 1), '-l', String(page + 1), input, output.replace(/\.png$/, '')],
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
