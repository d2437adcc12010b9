import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConversionOptions } from '../../src/convert/options.js';
import { outputFilename } from '../../src/convert/formats.js';

const limits = { maxOutputDimension: 1000 };

test('parses form strings into typed options, dropping absent ones', () => {
  assert.deepEqual(parseConversionOptions({ output_format: 'webp', quality: '80', width: '640', fit: 'contain' }, limits), {
    ok: true,
    options: { output_format: 'webp', quality: 80, width: 640, fit: 'contain' },
  });
});

test('rejects numbers that are not plain whole numbers in range, naming the field', () => {
  for (const [field, value] of [['quality', '0'], ['quality', '1e2'], ['width', '1001'], ['height', ' 5'], ['width', '0x10']] as const) {
    const result = parseConversionOptions({ output_format: 'png', [field]: value }, limits);
    assert.equal(result.ok, false, `${field}=${value}`);
    if (!result.ok) assert.equal(result.problems[0]?.field, field);
  }
});

test('rejects unknown options by name', () => {
  const result = parseConversionOptions({ output_format: 'png', sharpen: '1' }, limits);
  assert.deepEqual(result, { ok: false, problems: [{ field: 'sharpen', message: 'unknown option sharpen' }] });
});

test('output filenames swap the extension', () => {
  assert.equal(outputFilename('holiday.photo.JPG', 'webp'), 'holiday.photo.webp');
  assert.equal(outputFilename('noext', 'jpeg'), 'noext.jpg');
  assert.equal(outputFilename('.hidden', 'png'), 'image.png');
});
