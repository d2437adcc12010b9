import sharp from 'sharp';

/**
 * Inputs a hostile user can send with a valid key. Each is small on the wire and costly
 * (or misleading) to decode; tests use them to check that Kiln's limits hold.
 */

/** A 1×1 PNG (69 bytes): harmless itself, costly when asked to become a huge output. */
export function onePixelPng(): Promise<Buffer> {
  return sharp({ create: { width: 1, height: 1, channels: 3, background: '#336699' } })
    .png()
    .toBuffer();
}

/** A few hundred bytes of SVG whose turbulence and morphology filters cost minutes of CPU at `size`². */
export function svgFilterBomb(size: number): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><filter id="f">` +
      '<feTurbulence baseFrequency="0.9" numOctaves="10"/><feMorphology radius="30"/></filter>' +
      '<rect width="100%" height="100%" filter="url(#f)"/></svg>',
  );
}

/**
 * A JPEG of `width`×`height` that is only headers: its scan ends at once. libjpeg decodes
 * it with a warning as a flat grey picture.
 */
export async function headerOnlyJpeg(width: number, height: number): Promise<Buffer> {
  const full = await sharp({ create: { width, height, channels: 3, background: '#336699' } })
    .jpeg()
    .toBuffer();
  const sos = full.indexOf(Buffer.from([0xff, 0xda]));
  const sosLength = full.readUInt16BE(sos + 2);
  return Buffer.concat([full.subarray(0, sos + 2 + sosLength), Buffer.from([0xff, 0xd9])]);
}

/**
 * An animated GIF of `frames` 1×1 frames, written byte by byte (a few bytes a frame, so a
 * flood of thousands is tiny): what a frame-count limit must refuse before decoding.
 */
export function gifFlood(frames: number): Buffer {
  const header = Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    Buffer.from([1, 0, 1, 0, 0x80, 0, 0]), // 1×1 screen, a global table of two colours
    Buffer.from([0xff, 0, 0, 0, 0, 0]),
    Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'latin1'), 0x03, 0x01, 0, 0, 0]), // loop forever
  ]);
  const frame = Buffer.from([
    0x21,
    0xf9,
    0x04,
    0x00,
    0x0a,
    0x00,
    0x00,
    0x00, // 0.1 s
    0x2c,
    0,
    0,
    0,
    0,
    1,
    0,
    1,
    0,
    0x00, // a 1×1 image at 0,0
    0x02,
    0x02,
    0x44,
    0x01,
    0x00, // its one pixel, LZW-coded
  ]);
  return Buffer.concat([header, ...Array.from({ length: frames }, () => frame), Buffer.from([0x3b])]);
}

/** A real HEIC file (`heic`) whose image's spatial extent (its ispe box) is rewritten to claim `width`×`height`. */
export function heicClaiming(heic: Buffer, width: number, height: number): Buffer {
  const claimed = Buffer.from(heic);
  const ispe = claimed.indexOf('ispe', 0, 'latin1');
  if (ispe < 0) throw new Error('no ispe box');
  // The box: size, 'ispe', version and flags, then width and height.
  claimed.writeUInt32BE(width, ispe + 8);
  claimed.writeUInt32BE(height, ispe + 12);
  return claimed;
}
