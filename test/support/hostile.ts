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

/**
 * A PDF of `objects` (object 1 the catalog, numbered from 1 in order), with its cross-reference
 * table written so the file needs no repair: what a test needs to say in PDF, in PDF's words.
 */
export function pdfOf(objects: Array<string | Buffer>, trailer = ''): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(length);
    const part = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'), Buffer.from('\nendobj\n')]);
    parts.push(part);
    length += part.length;
  });
  const xref = [`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`, ...offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`)].join('');
  parts.push(Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailer}>>\nstartxref\n${length}\n%%EOF\n`, 'latin1'));
  return Buffer.concat(parts);
}

/** A content stream object holding `content`. */
export function pdfStream(content: string, dictionary = ''): string {
  return `<< /Length ${Buffer.byteLength(content, 'latin1')} ${dictionary} >>\nstream\n${content}\nendstream`;
}

/** A PDF of `pages` pages, each `width`×`height` points, all drawing one small content stream. */
export function pdfOfPages(pages: number, width = 200, height = 100): Buffer {
  const first = 4;
  const kids = Array.from({ length: pages }, (_, i) => `${first + i} 0 R`).join(' ');
  return pdfOf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Count ${pages} /Kids [${kids}] >>`,
    pdfStream('0.2 0.4 0.8 rg 10 10 50 50 re f'),
    ...Array.from({ length: pages }, () => `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Contents 3 0 R >>`),
  ]);
}
