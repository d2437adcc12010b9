/**
 * One process of `npm run bench`'s bare HEIC loop: decodes each HEIC file it is sent with
 * Kiln's decoder (libheif in WebAssembly) and converts it with sharp, as a converter
 * process does but with nothing else around it; answers when done with its peak RSS.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodeHeic } from '../src/convert/heic-input.js';
import { releaseDroppedHeaps } from '../src/convert/wasm-instances.js';

sharp.cache(false);
async function convertAll(message: { files: string[]; width: number }): Promise<void> {
  for (const file of message.files) {
    const decoded = await decodeHeic(readFileSync(file), {}, { maxInputPixels: 100_000_000 });
    await sharp(decoded.image).autoOrient().resize({ width: message.width }).jpeg().toBuffer();
    releaseDroppedHeaps();
  }
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  process.send!({ peakRssMb: hwm ? Number(hwm[1]) / 1024 : 0 }, () => process.exit(0));
}

process.on('message', (message: { files: string[]; width: number }) => {
  convertAll(message).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
