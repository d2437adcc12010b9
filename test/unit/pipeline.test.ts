import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConversionInputError, convertImage } from '../../src/convert/pipeline.js';
import { identify, makeImage } from '../support/images.js';

const limits = { maxInputPixels: 1_000_000, avifEffort: 2 };

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
