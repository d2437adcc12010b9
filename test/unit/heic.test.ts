import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { convertImage } from '../../src/convert/pipeline.js';
import { refused } from '../support/conversion-errors.js';
import { OUTPUT_FORMATS } from '../../src/model/formats.js';
import { sniffImage } from '../../src/convert/sniff.js';
import { MAGICK_FORMAT } from '../support/images.js';
import { magickFormat, magickImage } from '../support/magick.js';
import { heifConvert, heifEnc, magickPixels, pixelDifference, readableByMagick } from '../support/reference-codecs.js';
import { heicClaiming } from '../support/hostile.js';

const limits = { maxInputPixels: 40_000_000, maxOutputPixels: 40_000_000, avifEffort: 2, maxFrames: 100 };
const PHOTO = '/usr/share/backgrounds/mate/nature/Aqua.jpg';

/** The HEIC decoder against libheif's own tool, with ImageMagick reading both sides' pixels. */
const TOLERANCE = { mean: 1, max: 16 };

describe('HEIC (HEVC-coded HEIF) input, from files Debian’s heif-enc makes', () => {
  let photo: Buffer;
  let heic: Buffer;

  before(async () => {
    // A real photograph, made smaller by ImageMagick so heif-enc is quick.
    photo = await magickImage([PHOTO, '-resize', '640x400', 'jpg:-']);
    heic = await heifEnc([photo], ['-q', '90']);
  });

  test('sniffed as an image, converted to every output format; ImageMagick reads each at its size', async () => {
    assert.deepEqual(sniffImage(heic.subarray(0, 4096)), { image: true, format: 'heif' });
    for (const format of OUTPUT_FORMATS) {
      const out = await convertImage(heic, { output_format: format, width: 320 }, limits);
      assert.deepEqual(out.input, { format: 'heic', width: 640, height: 400, bytes: heic.length });
      assert.equal(await magickFormat(await readableByMagick(out.bytes), '%m %w %h'), `${MAGICK_FORMAT[format]!.toUpperCase()} 320 200`, format);
    }
  });

  test('its pixels are libheif’s own: Kiln’s PNG against heif-convert’s, within a mean of 1 and at most 16 levels', async () => {
    const ours = await magickPixels((await convertImage(heic, { output_format: 'png' }, limits)).bytes);
    const reference = await magickPixels(await heifConvert(heic));
    assert.deepEqual([ours.width, ours.height], [reference.width, reference.height]);
    const difference = pixelDifference(ours.data, reference.data);
    assert.ok(difference.mean < TOLERANCE.mean && difference.max <= TOLERANCE.max, JSON.stringify(difference));
    // And the photograph it was made from, through a lossy codec: near, not equal.
    const source = await magickPixels(photo);
    assert.ok(pixelDifference(ours.data, source.data).mean < 4);
  });

  test('EXIF orientation is honoured: a JPEG turned by its tag stays turned as HEIC', async () => {
    // 300x200 stored, a red block at the stored top left; orientation 6 turns it a quarter clockwise.
    const stored = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#2a6' } })
      .composite([{ input: { create: { width: 100, height: 50, channels: 3, background: '#f00' } }, left: 0, top: 0 }])
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const turned = await heifEnc([stored], ['-q', '95']);
    const out = await convertImage(turned, { output_format: 'png' }, limits);
    assert.equal(await magickFormat(out.bytes, '%w %h'), '200 300');
    // Upright, the block sits at the top right; the bottom left is green.
    const { data } = await magickPixels(out.bytes);
    const at = (x: number, y: number): number[] => [...data.subarray((y * 200 + x) * 3, (y * 200 + x) * 3 + 3)];
    assert.ok(at(190, 10)[0]! > 200 && at(190, 10)[1]! < 60, `top right ${at(190, 10).join(',')}`);
    assert.ok(at(10, 290)[1]! > 120 && at(10, 290)[0]! < 100, `bottom left ${at(10, 290).join(',')}`);
    // The same picture as the JPEG, oriented by sharp.
    const jpeg = await magickPixels(await sharp(stored).autoOrient().png().toBuffer());
    assert.ok(pixelDifference(data, jpeg.data).mean < 3);
  });

  test('its ICC profile converts it to sRGB: a Display P3 green comes out as sharp makes it from the P3 JPEG', async () => {
    const p3 = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#10e040' } })
      .withIccProfile('p3')
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const tagged = await heifEnc([p3], ['-q', '100']);
    const ours = await magickPixels((await convertImage(tagged, { output_format: 'png' }, limits)).bytes);
    const expected = await magickPixels(await sharp(p3).png().toBuffer());
    const unconverted = await magickPixels(await sharp(p3, { ignoreIcc: true }).png().toBuffer());
    const toExpected = pixelDifference(ours.data, expected.data).mean;
    const toUnconverted = pixelDifference(ours.data, unconverted.data).mean;
    assert.ok(toExpected < 3, `${toExpected} from sharp's sRGB`);
    assert.ok(toUnconverted > 10, `${toUnconverted} from the P3 values taken as sRGB: the profile was applied`);
  });

  test('a collection: the primary image by default, `page` picks another, past the last is page_not_found', async () => {
    const second = await magickImage([PHOTO, '-resize', '320x200', '-flop', 'jpg:-']);
    const collection = await heifEnc([photo, second], ['-q', '80']);
    const primary = await convertImage(collection, { output_format: 'png' }, limits);
    assert.deepEqual(primary.input, { format: 'heic', width: 640, height: 400, bytes: collection.length, pages: 2 });
    const other = await convertImage(collection, { output_format: 'png', page: 1 }, limits);
    assert.equal(await magickFormat(other.bytes, '%w %h'), '320 200');
    await refused(convertImage(collection, { output_format: 'png', page: 2 }, limits), 'page_not_found');
  });

  test('transparency survives: an RGBA PNG as HEIC keeps its alpha', async () => {
    // 64x32: the left half opaque red, the right half fully transparent.
    const rgba = Buffer.alloc(64 * 32 * 4);
    for (let i = 0; i < 64 * 32; i++) if (i % 64 < 32) rgba.set([200, 30, 30, 255], i * 4);
    const png = await sharp(rgba, { raw: { width: 64, height: 32, channels: 4 } })
      .png()
      .toBuffer();
    const out = await convertImage(await heifEnc([png], ['-L']), { output_format: 'png' }, limits);
    const { data } = await magickPixels(out.bytes, true);
    assert.ok(data[3]! > 250, 'the left half opaque');
    assert.ok(data[(10 * 64 + 50) * 4 + 3]! < 5, 'the right half transparent');
  });

  test('hostile: cut short or scrambled is unsupported_input; a size claimed past the limit is refused before decoding', async () => {
    await refused(convertImage(heic.subarray(0, Math.floor(heic.length / 2)), { output_format: 'png' }, limits), 'unsupported_input');
    const scrambled = Buffer.from(heic);
    for (let i = 200; i < scrambled.length; i += 7) scrambled[i] = scrambled[i]! ^ 0x5a;
    await refused(convertImage(scrambled, { output_format: 'png' }, limits), 'unsupported_input');

    // The image's spatial extent (its ispe box) rewritten to claim 100000x100000.
    const started = Date.now();
    await refused(convertImage(heicClaiming(heic, 100_000, 100_000), { output_format: 'png' }, limits), 'too_many_pixels');
    assert.ok(Date.now() - started < 30_000);
  });
});
