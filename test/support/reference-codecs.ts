import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';

/**
 * Encoders and decoders nobody here wrote, from Debian (scripts/install-system-deps.sh):
 * libheif's `heif-enc` and `heif-convert`. Tests make their HEIC files with them and check
 * Kiln's pixels against theirs; ImageMagick reads the pixels of both sides. Asynchronous,
 * so a Kiln in the test's own process keeps serving while they run.
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
