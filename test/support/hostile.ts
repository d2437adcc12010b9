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
