import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { ConversionInputError, convertImage, plannedOutputSize } from '../../src/convert/pipeline.js';
import { identify, makeImage } from '../support/images.js';
import { headerOnlyJpeg, onePixelPng, svgFilterBomb } from '../support/hostile.js';

const limits = { maxInputPixels: 1_000_000, maxOutputPixels: 1_000_000, avifEffort: 2, maxFrames: 1000 };

test('resizes with each fit mode as sharp defines it', async () => {
  const input = await makeImage(400, 200);
  const cases = [
    ['cover', 100, 100],
    ['contain', 100, 100],
    ['fill', 100, 100],
    ['inside', 100, 50],
    ['outside', 200, 100],
  ] as const;
  for (const [fit, width, height] of cases) {
    const result = await convertImage(input, { output_format: 'png', width: 100, height: 100, fit }, limits);
    assert.deepEqual(await identify(result.bytes), { format: 'png', width, height }, fit);
    assert.equal(result.output.width, width);
  }
});

test('refuses images over the pixel limit with too_many_pixels', async () => {
  const input = await makeImage(1200, 1000);
  await assert.rejects(convertImage(input, { output_format: 'png' }, limits), (error: unknown) => {
    assert.ok(error instanceof ConversionInputError);
    assert.equal(error.code, 'too_many_pixels');
    return true;
  });
});

test('higher quality gives a larger JPEG', async () => {
  const input = await makeImage(300, 200);
  const low = await convertImage(input, { output_format: 'jpeg', quality: 20 }, limits);
  const high = await convertImage(input, { output_format: 'jpeg', quality: 95 }, limits);
  assert.ok(high.bytes.length > low.bytes.length);
});

const roomy = { maxInputPixels: 200_000_000, maxOutputPixels: 1_000_000, avifEffort: 2, maxFrames: 1000 };

async function inputError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConversionInputError, String(error));
    return error.code;
  }
  return assert.fail('expected a ConversionInputError');
}

test('a planned output past the output pixel limit is refused before decoding', async () => {
  const tiny = await onePixelPng();
  assert.equal(
    await inputError(convertImage(tiny, { output_format: 'jpeg', width: 1001, height: 1000, fit: 'fill', enlarge: true }, roomy)),
    'output_too_large',
  );
  assert.equal(
    await inputError(convertImage(tiny, { output_format: 'jpeg', width: 1001, enlarge: true }, roomy)),
    'output_too_large',
    'one side given: the other follows the aspect ratio',
  );
  // Without enlarge nothing grows past the input: the same request is no danger.
  const small = await convertImage(tiny, { output_format: 'jpeg', width: 1001 }, roomy);
  assert.deepEqual(await identify(small.bytes), { format: 'jpeg', width: 1, height: 1 });
  const ok = await convertImage(tiny, { output_format: 'png', width: 1000, enlarge: true }, roomy);
  assert.deepEqual(await identify(ok.bytes), { format: 'png', width: 1000, height: 1000 });
});

test('the encoder size limit applies to the planned output, not only to the options', async () => {
  const wide = await makeImage(400, 10, 'png');
  // width=500 is fine for WebP on its own; on a 1:40 input it makes a height past WebP's 16383.
  const tall = await makeImage(10, 400, 'png');
  const limits = { maxInputPixels: 1_000_000, maxOutputPixels: 10_000_000_000, avifEffort: 2, maxFrames: 1000 };
  assert.equal(await inputError(convertImage(tall, { output_format: 'webp', width: 500, enlarge: true }, limits)), 'output_too_large');
  assert.equal((await convertImage(wide, { output_format: 'webp', width: 500, enlarge: true }, limits)).output.width, 500);
});

test('plannedOutputSize follows sharp for every fit', () => {
  const input = { width: 400, height: 200 };
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png' }), { width: 400, height: 200 });
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png', width: 100 }), { width: 100, height: 50 });
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png', height: 100 }), { width: 200, height: 100 });
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png', width: 100, height: 100, fit: 'inside' }), { width: 100, height: 50 });
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png', width: 100, height: 100, fit: 'outside' }), { width: 200, height: 100 });
  assert.deepEqual(plannedOutputSize(input, { output_format: 'png', width: 100, height: 100 }), { width: 100, height: 100 });
});

test('SVGs with unbounded-cost filters or entity declarations are refused without rendering', async () => {
  const started = Date.now();
  assert.equal(
    await inputError(convertImage(svgFilterBomb(3000), { output_format: 'png' }, { ...roomy, maxOutputPixels: 100_000_000 })),
    'unsupported_svg_feature',
  );
  assert.ok(Date.now() - started < 2000, 'refused before rasterising');
  const gzipped = gzipSync(svgFilterBomb(3000));
  assert.equal(await inputError(convertImage(gzipped, { output_format: 'png' }, { ...roomy, maxOutputPixels: 100_000_000 })), 'unsupported_svg_feature');
  const entities = Buffer.from(
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&a;</text></svg>',
  );
  assert.equal(await inputError(convertImage(entities, { output_format: 'png' }, roomy)), 'unsupported_svg_feature');
  const plain = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><filter id="s"><feGaussianBlur stdDeviation="1"/></filter><rect width="20" height="10" fill="red" filter="url(#s)"/></svg>',
  );
  assert.deepEqual(await identify((await convertImage(plain, { output_format: 'png' }, roomy)).bytes), { format: 'png', width: 20, height: 10 });
});

test('a JPEG that is only headers fails as unsupported_input instead of decoding grey', async () => {
  assert.equal(await inputError(convertImage(await headerOnlyJpeg(2000, 2000), { output_format: 'png', width: 100 }, roomy)), 'unsupported_input');
});
