import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { convertImage } from '../../src/convert/pipeline.js';
import { refused } from '../support/conversion-errors.js';
import { OUTPUT_FORMATS } from '../../src/model/formats.js';
import { sniffImage } from '../../src/convert/sniff.js';
import { MAGICK_FORMAT } from '../support/images.js';
import { magickFormat, magickImage } from '../support/magick.js';
import { cjxl, djxl, magickPixels, pixelAt, pixelDifference, readableByMagick } from '../support/reference-codecs.js';
import { gifFlood } from '../support/hostile.js';

const limits = { maxInputPixels: 40_000_000, maxOutputPixels: 40_000_000, avifEffort: 2, maxFrames: 100 };
const PHOTO = '/usr/share/backgrounds/mate/nature/Aqua.jpg';

/**
 * Kiln's decoder (libjxl 0.12) against Debian's djxl (libjxl 0.7) on the same lossy file,
 * both read by ImageMagick: they round a sample apart here and there (measured on the
 * photo: mean 0.24, max 1), with no shift either way.
 */
const TOLERANCE = { mean: 0.5, max: 2, shift: 0.1 };
/** ImageMagick's PNGs carry gAMA and cHRM, which cjxl keeps as a gamma-2.2 encoding: the sources here are plain sRGB. */
const PLAIN_PNG = ['-define', 'png:exclude-chunks=gAMA,cHRM,bKGD', 'png:-'];

describe('JPEG XL input, from files Debian’s cjxl makes', () => {
  let photo: Buffer;
  let jxl: Buffer;

  before(async () => {
    photo = await magickImage([PHOTO, '-resize', '640x400', ...PLAIN_PNG]);
    jxl = await cjxl(photo, ['-d', '1']);
  });

  test('sniffed as an image, converted to every output format; ImageMagick reads each at its size', async () => {
    assert.deepEqual(sniffImage(jxl.subarray(0, 4096)), { image: true, format: 'jxl' });
    for (const format of OUTPUT_FORMATS) {
      const out = await convertImage(jxl, { output_format: format, width: 320 }, limits);
      assert.deepEqual(out.input, { format: 'jxl', width: 640, height: 400, bytes: jxl.length });
      assert.equal(await magickFormat(await readableByMagick(out.bytes), '%m %w %h'), `${MAGICK_FORMAT[format]!.toUpperCase()} 320 200`, format);
    }
  });

  test('its pixels are libjxl’s: Kiln’s PNG against djxl’s within a mean of 0.5 and at most 2 levels, unshifted; a lossless file exactly', async () => {
    const ours = await magickPixels((await convertImage(jxl, { output_format: 'png' }, limits)).bytes);
    const reference = await magickPixels(await djxl(jxl));
    assert.deepEqual([ours.width, ours.height], [reference.width, reference.height]);
    const difference = pixelDifference(ours.data, reference.data);
    assert.ok(difference.mean < TOLERANCE.mean && difference.max <= TOLERANCE.max, JSON.stringify(difference));
    let signed = 0;
    for (let i = 0; i < ours.data.length; i++) signed += ours.data[i]! - reference.data[i]!;
    assert.ok(Math.abs(signed / ours.data.length) < TOLERANCE.shift, `no shift: ${signed / ours.data.length}`);

    const lossless = await cjxl(photo, ['-d', '0']);
    const exact = await magickPixels((await convertImage(lossless, { output_format: 'png' }, limits)).bytes);
    assert.deepEqual(pixelDifference(exact.data, (await magickPixels(photo)).data), { mean: 0, max: 0 });
  });

  test('orientation is honoured: a JPEG turned by its EXIF tag, recompressed by cjxl, comes out as djxl turns it', async () => {
    // 300x200 stored, a red block at the stored top left; orientation 6 turns it a quarter clockwise.
    const stored = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#2a6' } })
      .composite([{ input: { create: { width: 100, height: 50, channels: 3, background: '#f00' } }, left: 0, top: 0 }])
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const turned = await cjxl(stored);
    const out = await convertImage(turned, { output_format: 'png' }, limits);
    const reference = await djxl(turned);
    assert.equal(await magickFormat(reference, '%w %h'), '200 300', 'djxl turns it');
    assert.equal(await magickFormat(out.bytes, '%w %h'), '200 300');
    // Turned clockwise, the stored top-left block sits at the top right.
    const [red, green] = await pixelAt(out.bytes, 180, 10);
    assert.ok(red! > 200 && green! < 60, `top right is red: ${red},${green}`);
    assert.ok(pixelDifference((await magickPixels(out.bytes)).data, (await magickPixels(reference)).data).mean < TOLERANCE.mean);
  });

  test('its ICC profile converts it to sRGB: a Display P3 green comes out as sharp makes it from the P3 PNG', async () => {
    // sharp stores this sRGB colour as its Display P3 numbers, and tags the PNG with the profile.
    const p3 = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#6a8f3c' } })
      .withIccProfile('p3')
      .png()
      .toBuffer();
    const out = await convertImage(await cjxl(p3, ['-d', '0']), { output_format: 'png' }, limits);
    const ours = await pixelAt(out.bytes, 32, 32);
    const expected = await pixelAt(await sharp(p3).png().toBuffer(), 32, 32);
    assert.ok(
      ours.every((value, i) => Math.abs(value - expected[i]!) < 3),
      `${ours.join()} against sharp’s ${expected.join()}`,
    );
    // Taken as sRGB, the stored P3 numbers would come out unchanged.
    const stored = await pixelAt(p3, 32, 32);
    assert.ok(
      ours.some((value, i) => Math.abs(value - stored[i]!) > 10),
      `converted, not taken as sRGB: ${ours.join()} against the stored ${stored.join()}`,
    );
  });

  test('transparency survives: an RGBA PNG as JPEG XL keeps its alpha', async () => {
    const rgba = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const out = await convertImage(await cjxl(rgba, ['-d', '0']), { output_format: 'png' }, limits);
    assert.equal(await magickFormat(out.bytes, '%[channels] %[fx:round(255*p{5,5}.a)]'), 'srgba 128');
  });

  test('an animation: kept as gif or webp with its frames and delays, a still takes the first, `page` picks one', async () => {
    // Three frames, red, green and blue, 20 centiseconds each, made into a GIF by ImageMagick and into JPEG XL by cjxl.
    const gif = await magickImage(['-size', '48x32', 'xc:#f00', 'xc:#0f0', 'xc:#00f', '-set', 'delay', '20', '-loop', '0', 'gif:-']);
    const animation = await cjxl(gif);
    const webp = await convertImage(animation, { output_format: 'webp' }, limits);
    assert.deepEqual(webp.input, { format: 'jxl', width: 48, height: 32, bytes: animation.length, pages: 3 });
    assert.deepEqual([webp.output.frames, webp.output.width, webp.output.height], [3, 48, 32]);
    assert.deepEqual((await sharp(webp.bytes).metadata()).delay, [200, 200, 200]);
    const asGif = await convertImage(animation, { output_format: 'gif' }, limits);
    assert.equal(await magickFormat(asGif.bytes, '%n %T '), '3 20 3 20 3 20');

    const still = await convertImage(animation, { output_format: 'png' }, limits);
    assert.equal(still.output.frames, undefined);
    assert.deepEqual(await pixelAt(still.bytes, 4, 4), [255, 0, 0]);
    assert.deepEqual(await pixelAt((await convertImage(animation, { output_format: 'png', page: 2 }, limits)).bytes, 4, 4), [0, 0, 255]);
    const first = await convertImage(animation, { output_format: 'webp', first_frame: true }, limits);
    assert.equal(first.output.frames, undefined);
    await refused(convertImage(animation, { output_format: 'png', page: 3 }, limits), 'page_not_found');
    await refused(convertImage(animation, { output_format: 'gif' }, { ...limits, maxFrames: 2 }), 'too_many_frames');
    // A flood of frames, counted from the header: refused before one is decoded; its first frame alone converts.
    const flood = await cjxl(gifFlood(2000));
    await refused(convertImage(flood, { output_format: 'gif' }, limits), 'too_many_frames');
    assert.equal((await convertImage(flood, { output_format: 'gif', first_frame: true }, limits)).input.pages, 2000);
  });

  test('hostile: cut short or scrambled is unsupported_input; a size past the limit is refused before decoding', async () => {
    for (const broken of [jxl.subarray(0, 40), jxl.subarray(0, Math.floor(jxl.length / 2)), Buffer.concat([jxl.subarray(0, 64), Buffer.alloc(4000, 0x5a)])]) {
      await refused(convertImage(broken, { output_format: 'jpeg' }, limits), 'unsupported_input');
    }
    // 2000x2000 of one colour: a few hundred bytes that decode to 4 million pixels.
    const flat = await cjxl(
      await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
      ['-d', '0', '-e', '1'],
    );
    assert.ok(flat.length < 2000, `${flat.length} bytes`);
    await refused(convertImage(flat, { output_format: 'jpeg', width: 100 }, { ...limits, maxInputPixels: 1_000_000 }), 'too_many_pixels');
    assert.equal((await convertImage(flat, { output_format: 'jpeg', width: 100 }, limits)).output.width, 100);
  });
});

describe('JPEG XL output (output_format=jxl), read back by Debian’s djxl', () => {
  let photo: Buffer;

  before(async () => {
    photo = await magickImage([PHOTO, '-resize', '640x400', ...PLAIN_PNG]);
  });

  test('quality trades bytes for fidelity; djxl decodes each at its size, near the source', async () => {
    const sizes: number[] = [];
    for (const quality of [30, 90]) {
      const out = await convertImage(photo, { output_format: 'jxl', quality }, limits);
      assert.deepEqual([out.output.format, out.output.width, out.output.height], ['jxl', 640, 400]);
      assert.deepEqual(sniffImage(out.bytes.subarray(0, 4096)), { image: true, format: 'jxl' });
      const decoded = await magickPixels(await djxl(out.bytes));
      assert.deepEqual([decoded.width, decoded.height], [640, 400]);
      const mean = pixelDifference(decoded.data, (await magickPixels(photo)).data).mean;
      assert.ok(mean < (quality === 90 ? 2 : 6), `quality ${quality}: mean difference ${mean}`);
      sizes.push(out.bytes.length);
    }
    assert.ok(sizes[0]! < sizes[1]!, `quality 30 is smaller than 90: ${sizes.join()}`);
  });

  test('lossless keeps every pixel; effort changes the work, not the picture', async () => {
    const small = await magickImage([PHOTO, '-resize', '200x125', ...PLAIN_PNG]);
    for (const effort of [1, 7]) {
      const out = await convertImage(small, { output_format: 'jxl', lossless: true, effort }, limits);
      const decoded = await magickPixels(await djxl(out.bytes));
      assert.deepEqual(pixelDifference(decoded.data, (await magickPixels(small)).data), { mean: 0, max: 0 }, `effort ${effort}`);
    }
  });

  test('alpha is kept, and max_bytes searches the quality down to fit', async () => {
    const rgba = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const out = await convertImage(rgba, { output_format: 'jxl', lossless: true }, limits);
    assert.equal(await magickFormat(await djxl(out.bytes), '%[channels] %[fx:round(255*p{5,5}.a)]'), 'srgba 128');

    const unbounded = await convertImage(photo, { output_format: 'jxl', quality: 90 }, limits);
    const budget = Math.floor(unbounded.bytes.length / 3);
    const fitted = await convertImage(photo, { output_format: 'jxl', quality: 90, max_bytes: budget }, limits);
    assert.ok(fitted.bytes.length <= budget, `${fitted.bytes.length} within ${budget}`);
    assert.equal(await magickFormat(await djxl(fitted.bytes), '%w %h'), '640 400');
  });
});
