import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConversionInputError, convertImage } from '../../src/convert/pipeline.js';
import { refused } from '../support/conversion-errors.js';
import { OUTPUT_FORMATS } from '../../src/model/formats.js';
import { sniffImage } from '../../src/convert/sniff.js';
import { MAGICK_FORMAT } from '../support/images.js';
import { magickFormat, magickImage } from '../support/magick.js';
import { img2pdf, magickPixels, pdftoppm, pixelAt, pixelDifference, readableByMagick } from '../support/reference-codecs.js';
import { pdfOf, pdfOfPages, pdfStream } from '../support/hostile.js';

const limits = { maxInputPixels: 40_000_000, maxOutputPixels: 40_000_000, avifEffort: 2, maxFrames: 100 };
const PHOTO = '/usr/share/backgrounds/mate/nature/Aqua.jpg';

/**
 * PDFium against poppler's pdftoppm on the same page, both read by ImageMagick. A photo
 * page is one embedded JPEG: at 72 dpi PDFium draws it pixel for pixel as ImageMagick
 * decodes the JPEG, while poppler smooths it (measured: mean 1.83, max 149 at edges in
 * the picture); a page of text and shapes differs only where their anti-aliasing does.
 */
const PHOTO_TOLERANCE = { mean: 3 };
const DRAWING_TOLERANCE = { mean: 3 };

/** A page of text in a standard font, a filled shape and a stroked one, `width`×`height` points, turned by `rotate`. */
function drawingPdf(width = 300, height = 200, rotate = 0): Buffer {
  const content = ['0.85 0.1 0.1 rg 20 20 120 60 re f', '0 0 0.7 RG 4 w 160 30 m 280 90 l S', 'BT /F1 28 Tf 0 0.45 0 rg 24 140 Td (Kiln PDF) Tj ET'].join('\n');
  return pdfOf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Rotate ${rotate} /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>`,
    pdfStream(content),
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]);
}

describe('PDF input: a page drawn by PDFium, against poppler’s pdftoppm', () => {
  let photo: Buffer;
  let pdf: Buffer;

  before(async () => {
    photo = await magickImage([PHOTO, '-resize', '640x400', 'jpg:-']);
    // At 72 dpi a pixel is a point: a 640x400-point page.
    pdf = await img2pdf([photo], 72);
  });

  test('sniffed as an image, converted to every output format; ImageMagick reads each at its size', async () => {
    assert.deepEqual(sniffImage(pdf.subarray(0, 4096)), { image: true, format: 'pdf' });
    for (const format of OUTPUT_FORMATS) {
      const out = await convertImage(pdf, { output_format: format, width: 320 }, limits);
      assert.deepEqual(out.input, { format: 'pdf', width: 640, height: 400, bytes: pdf.length, pages: 1 });
      assert.equal(await magickFormat(await readableByMagick(out.bytes), '%m %w %h'), `${MAGICK_FORMAT[format]!.toUpperCase()} 320 200`, format);
    }
  });

  test('density sets the pixels per point; the page matches pdftoppm’s at 72 and 150 dpi', async () => {
    for (const density of [72, 150]) {
      const out = await convertImage(pdf, { output_format: 'png', density }, limits);
      // 640 points at 150 dpi are 1333⅓ pixels: the part pixel counts, as poppler counts it.
      const expected = [Math.ceil((640 * density) / 72), Math.ceil((400 * density) / 72)];
      assert.deepEqual([out.input.width, out.input.height, out.output.width, out.output.height], [...expected, ...expected]);
      const ours = await magickPixels(out.bytes);
      const reference = await magickPixels(await pdftoppm(pdf, 0, density));
      assert.deepEqual([reference.width, reference.height], expected);
      const difference = pixelDifference(ours.data, reference.data);
      assert.ok(difference.mean < PHOTO_TOLERANCE.mean, `${density} dpi: ${JSON.stringify(difference)}`);
    }
    // Drawn at 72 dpi the embedded JPEG is the page, pixel for pixel (a level of rounding apart, between JPEG decoders).
    const page = await magickPixels((await convertImage(pdf, { output_format: 'png' }, limits)).bytes);
    assert.ok(pixelDifference(page.data, (await magickPixels(photo)).data).max <= 1);
  });

  test('text in a standard font and shapes are drawn as poppler draws them, with PDFium’s own fonts', async () => {
    const drawing = drawingPdf();
    const out = await convertImage(drawing, { output_format: 'png', density: 144 }, limits);
    const ours = await magickPixels(out.bytes);
    const reference = await magickPixels(await pdftoppm(drawing, 0, 144));
    assert.deepEqual([ours.width, ours.height], [600, 400]);
    const difference = pixelDifference(ours.data, reference.data);
    assert.ok(difference.mean < DRAWING_TOLERANCE.mean, JSON.stringify(difference));
    // The red box (20,20)-(140,80) in points, from the bottom: pixels (40..280, 240..360) from the top at 144 dpi.
    assert.deepEqual(await pixelAt(out.bytes, 100, 300), [217, 26, 26]);
    // Paper is white, and the text is there: green ink along the line of words (its baseline 60 points from the top).
    assert.deepEqual(await pixelAt(out.bytes, 590, 10), [255, 255, 255]);
    let inked = 0;
    for (let y = 60; y < 120; y++) {
      for (let x = 40; x < 340; x++) {
        const [r, g, b] = ours.data.subarray((y * 600 + x) * 3, (y * 600 + x) * 3 + 3);
        if (g! - r! > 40 && g! - b! > 40) inked++;
      }
    }
    assert.ok(inked > 1000, `${inked} pixels of green ink`);
  });

  test('a turned page (/Rotate 90) comes out turned, its sides swapped, as pdftoppm draws it', async () => {
    const turned = drawingPdf(300, 200, 90);
    const out = await convertImage(turned, { output_format: 'png' }, limits);
    assert.deepEqual([out.output.width, out.output.height], [200, 300]);
    const difference = pixelDifference((await magickPixels(out.bytes)).data, (await magickPixels(await pdftoppm(turned, 0, 72))).data);
    assert.ok(difference.mean < DRAWING_TOLERANCE.mean, JSON.stringify(difference));
  });

  test('several pages: the first by default, `page` picks another of its own size, past the last is page_not_found', async () => {
    const red = await magickImage(['-size', '200x100', 'xc:#e00000', 'png:-']);
    const blue = await magickImage(['-size', '120x160', 'xc:#0000e0', 'png:-']);
    const document = await img2pdf([red, blue, red], 72);
    const first = await convertImage(document, { output_format: 'png' }, limits);
    assert.deepEqual(first.input, { format: 'pdf', width: 200, height: 100, bytes: document.length, pages: 3 });
    assert.deepEqual(await pixelAt(first.bytes, 50, 50), [224, 0, 0]);
    const second = await convertImage(document, { output_format: 'png', page: 1 }, limits);
    assert.deepEqual([second.output.width, second.output.height], [120, 160]);
    assert.deepEqual(await pixelAt(second.bytes, 50, 50), [0, 0, 224]);
    await refused(convertImage(document, { output_format: 'png', page: 3 }, limits), 'page_not_found');
  });

  test('hostile: cut short, not a PDF after all, or locked is unsupported_input; a page too large at its density is refused before drawing', async () => {
    for (const broken of [pdf.subarray(0, 200), Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(5000, 0x41)])]) {
      await refused(convertImage(broken, { output_format: 'png' }, limits), 'unsupported_input');
    }
    const noPages = pdfOf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Count 0 /Kids [] >>']);
    await refused(convertImage(noPages, { output_format: 'png' }, limits), 'unsupported_input');
    // Encrypted with a user password (not the empty one): its pages cannot be read without it.
    const key = `<${'ab'.repeat(32)}>`;
    const locked = pdfOf(
      [
        '<< /Type /Catalog /Pages 2 0 R >>',
        '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
        '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>',
        pdfStream('0.2 0.4 0.8 rg 10 10 50 50 re f'),
        `<< /Filter /Standard /V 1 /R 2 /O ${key} /U ${key} /P -4 >>`,
      ],
      `/Encrypt 5 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] `,
    );
    await assert.rejects(convertImage(locked, { output_format: 'png' }, limits), (error: unknown) => {
      assert.ok(error instanceof ConversionInputError && error.code === 'unsupported_input', String(error));
      assert.match(error.message, /password/);
      return true;
    });
    // A 200-inch page (the largest PDF allows) at 2400 dpi: 480000 pixels a side, refused from the page size alone.
    const huge = pdfOfPages(1, 14_400, 14_400);
    await refused(convertImage(huge, { output_format: 'png', density: 2400 }, limits), 'too_many_pixels');
    await refused(convertImage(huge, { output_format: 'png', density: 72 }, { ...limits, maxInputPixels: 100_000_000 }), 'too_many_pixels');
    assert.deepEqual((await convertImage(huge, { output_format: 'png', density: 2 }, limits)).output.width, 400);
  });

  test('10,000 pages: counted, and only the page asked for is drawn', async () => {
    const many = pdfOfPages(10_000);
    const last = await convertImage(many, { output_format: 'png', page: 9_999 }, limits);
    assert.deepEqual([last.input.pages, last.output.width, last.output.height], [10_000, 200, 100]);
    // The shape every page draws: a blue square 10 points in.
    assert.deepEqual(await pixelAt(last.bytes, 30, 70), [51, 102, 204]);
  });

  test('a PDF that tries to run script, open links and fetch a remote image makes no connection', async () => {
    const connections: string[] = [];
    const server = createServer((request, response) => {
      connections.push(request.url ?? '');
      response.end('probe');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const script = `app.launchURL('${base}/script', true); this.submitForm('${base}/submit'); var x = new XMLHttpRequest();`;
      const hostile = pdfOf([
        `<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /Names << /JavaScript << /Names [(run) 5 0 R] >> >> /AA << /WC 5 0 R >> >>`,
        '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
        `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Annots [6 0 R 7 0 R] /AA << /O 5 0 R >> /Resources << /XObject << /Remote 8 0 R >> >> >>`,
        pdfStream('0.2 0.4 0.8 rg 10 10 50 50 re f q 100 0 0 50 80 20 cm /Remote Do Q'),
        `<< /S /JavaScript /JS (${script}) >>`,
        `<< /Type /Annot /Subtype /Link /Rect [0 0 200 100] /A << /S /URI /URI (${base}/link) >> >>`,
        `<< /Type /Annot /Subtype /Link /Rect [0 0 50 50] /A << /S /GoToR /F << /FS /URL /F (${base}/remote.pdf) >> /D [0 /Fit] >> >>`,
        // An image whose data lives at a URL (an external stream): a reader must not go and get it.
        `<< /Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length 0 /F << /FS /URL /F (${base}/image) >> >>\nstream\n\nendstream`,
      ]);
      const out = await convertImage(hostile, { output_format: 'png' }, limits);
      assert.deepEqual([out.output.width, out.output.height], [200, 100]);
      assert.deepEqual(await pixelAt(out.bytes, 30, 70), [51, 102, 204], 'the page itself is drawn');
      // The server answers a request made now: had the render sent one, it would have been logged first.
      assert.equal(await (await fetch(`${base}/probe`)).text(), 'probe');
      assert.deepEqual(connections, ['/probe']);
    } finally {
      server.close();
    }
  });
});
