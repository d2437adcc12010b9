import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { SNIFF_BYTES, sniffImage } from '../../src/convert/sniff.js';

const head = (bytes: Buffer): Buffer => bytes.subarray(0, SNIFF_BYTES);

test('every format Kiln reads passes the look at its first bytes', async () => {
  const made = (format: 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif') =>
    sharp({ create: { width: 16, height: 16, channels: 3, background: '#c33' } })
      .toFormat(format)
      .toBuffer();
  for (const [format, expected] of [
    ['jpeg', 'jpeg'],
    ['png', 'png'],
    ['gif', 'gif'],
    ['webp', 'webp'],
    ['tiff', 'tiff'],
    ['avif', 'heif'],
  ] as const) {
    assert.deepEqual(sniffImage(head(await made(format))), { image: true, format: expected }, format);
  }
  const svg = `<?xml version="1.0" encoding="UTF-8"?>\n<!-- ${'a long comment '.repeat(20)} -->\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>`;
  assert.deepEqual(sniffImage(Buffer.from(svg)), { image: true, format: 'svg' });
  assert.deepEqual(sniffImage(Buffer.from(`\uFEFF  <svg viewBox="0 0 1 1"></svg>`)), { image: true, format: 'svg' });
  assert.deepEqual(sniffImage(head(gzipSync(svg))), { image: true, format: 'svg' }, 'SVGZ');
  // An iPhone photo's box: major brand heic, compatible mif1 and heic.
  const iphone = Buffer.from([0, 0, 0, 0x18, ...Buffer.from('ftypheic'), 0, 0, 0, 0, ...Buffer.from('mif1heic')]);
  assert.deepEqual(sniffImage(iphone), { image: true, format: 'heif' }, 'HEIC');
  // JPEG XL: a bare codestream, and the container's signature box.
  assert.deepEqual(sniffImage(Buffer.from([0xff, 0x0a, 0xfa, 0x12])), { image: true, format: 'jxl' }, 'JPEG XL codestream');
  const container = Buffer.from([0, 0, 0, 0x0c, ...Buffer.from('JXL '), 0x0d, 0x0a, 0x87, 0x0a, 0, 0, 0, 0x14, ...Buffer.from('ftypjxl ')]);
  assert.deepEqual(sniffImage(container), { image: true, format: 'jxl' }, 'JPEG XL container');
  assert.deepEqual(sniffImage(Buffer.from('%PDF-1.7\n%\xe2\xe3\n1 0 obj')), { image: true, format: 'pdf' }, 'PDF');
  // Readers accept junk before the header within the first kilobyte, and so does the look.
  assert.deepEqual(sniffImage(Buffer.concat([Buffer.alloc(1000, 0x20), Buffer.from('%PDF-1.4\n')])), { image: true, format: 'pdf' }, 'PDF after junk');
  assert.equal(sniffImage(Buffer.concat([Buffer.alloc(1100, 0x20), Buffer.from('%PDF-1.4\n')])).image, false, 'a PDF header past the first kilobyte');
});

test('what is not an image is named', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from('{"a": [1, 2]}'), /^JSON$/],
    [Buffer.from('[1,2,3]'), /^JSON$/],
    [Buffer.from('hello, world\n'), /^text$/],
    [Buffer.from('<!DOCTYPE html><html></html>'), /HTML/],
    [Buffer.from('<?xml version="1.0"?><feed/>'), /XML that is not an SVG/],
    [Buffer.from([0x00, 0x00, 0x01, 0x00, 0x01, 0]), /ICO/],
    [Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x0a, 0, 0, 0]), /ZIP/],
    [gzipSync('just text, gzipped'), /gzip/],
    [Buffer.from([0x42, 0x4d, 0x36, 0, 0, 0]), /BMP/],
    [Buffer.from([0, 0, 0, 0x18, ...Buffer.from('ftypmp42'), 0, 0, 0, 0, ...Buffer.from('isommp42')]), /ISO media file of brand "mp42"/],
    [Buffer.from([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, ...Buffer.from('WAVE')]), /RIFF file of type "WAVE"/],
    [Buffer.from([0x00, 0xfe, 0x13, 0x37, 0x99]), /no image format/],
    [Buffer.alloc(0), /text/],
  ];
  for (const [bytes, looksLike] of cases) {
    const sniffed = sniffImage(bytes);
    assert.equal(sniffed.image, false, bytes.toString('latin1'));
    if (!sniffed.image) assert.match(sniffed.looksLike, looksLike);
  }
});
