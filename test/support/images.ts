import { spawn } from 'node:child_process';
import sharp from 'sharp';

/** A photo-like test image (gradient plus noise) made with sharp, as `format`. */
export async function makeImage(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const channels = 3;
  const pixels = Buffer.alloc(width * height * channels);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const i = (y * width + x) * channels;
      pixels[i] = (x * 255) / width;
      pixels[i + 1] = (y * 255) / height;
      pixels[i + 2] = seed % 64;
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels } });
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

export interface DecodedFacts {
  format: string;
  width: number;
  height: number;
}

/**
 * Decodes with ImageMagick, a decoder independent of sharp/libvips, so a test does not
 * grade sharp's output with sharp. Installed by .ci/run (Debian's imagemagick).
 */
export function identify(bytes: Buffer): Promise<DecodedFacts> {
  return new Promise((resolve, reject) => {
    const child = spawn('identify', ['-format', '%m %w %h\n', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const first = out.trim().split('\n')[0] ?? '';
      const [format, width, height] = first.split(' ');
      if (code !== 0 || !format) return reject(new Error(`identify failed (${code}): ${err}`));
      resolve({ format: format.toLowerCase(), width: Number(width), height: Number(height) });
    });
    child.stdin.end(bytes);
  });
}

/** ImageMagick's names for Kiln's output formats (IM6 reads AVIF through its HEIF coder). */
export const MAGICK_FORMAT: Record<string, string> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  avif: 'heic',
  gif: 'gif',
  tiff: 'tiff',
  // Debian's ImageMagick 6 has no JPEG XL: readableByMagick hands it djxl's PNG.
  jxl: 'png',
};

/** True when the bytes are an ISO-BMFF file whose major brand is AVIF (not HEIC). */
export function isAvifContainer(bytes: Buffer): boolean {
  return bytes.subarray(4, 8).toString('latin1') === 'ftyp' && bytes.subarray(8, 12).toString('latin1') === 'avif';
}
