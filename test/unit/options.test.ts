import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConversionOptions } from '../../src/convert/options.js';
import { outputFilename } from '../../src/model/formats.js';

const limits = { maxOutputDimension: 1000, maxOutputPixels: 500_000 };

test('parses form strings into typed options, dropping absent ones', () => {
  assert.deepEqual(parseConversionOptions({ output_format: 'webp', quality: '80', width: '640', fit: 'contain' }, limits), {
    ok: true,
    options: { output_format: 'webp', quality: 80, width: 640, fit: 'contain' },
  });
});

test('rejects numbers that are not plain whole numbers in range, naming the field', () => {
  for (const [field, value] of [
    ['quality', '0'],
    ['quality', '1e2'],
    ['width', '1001'],
    ['height', ' 5'],
    ['width', '0x10'],
  ] as const) {
    const result = parseConversionOptions({ output_format: 'png', [field]: value }, limits);
    assert.equal(result.ok, false, `${field}=${value}`);
    if (!result.ok) assert.equal(result.problems[0]?.field, field);
  }
});

test('rejects unknown options by name', () => {
  const result = parseConversionOptions({ output_format: 'png', sharpness: '1' }, limits);
  assert.deepEqual(result, { ok: false, problems: [{ field: 'sharpness', message: 'unknown option sharpness' }] });
});

test('output filenames swap the extension', () => {
  assert.equal(outputFilename('holiday.photo.JPG', 'webp'), 'holiday.photo.webp');
  assert.equal(outputFilename('noext', 'jpeg'), 'noext.jpg');
  assert.equal(outputFilename('.hidden', 'png'), 'image.png');
});

test('per-format size limits and the output pixel limit are checked before anything is read', () => {
  const generous = { maxOutputDimension: 65535, maxOutputPixels: 1_000_000_000 };
  const webp = parseConversionOptions({ output_format: 'webp', width: '16384' }, generous);
  assert.deepEqual(webp, { ok: false, problems: [{ field: 'width', message: 'width must be at most 16383 for webp' }] });
  assert.equal(parseConversionOptions({ output_format: 'webp', width: '16383' }, generous).ok, true);
  assert.equal(parseConversionOptions({ output_format: 'avif', height: '16385' }, generous).ok, false);
  assert.equal(parseConversionOptions({ output_format: 'gif', height: '16385' }, generous).ok, true);

  const exact = parseConversionOptions({ output_format: 'png', width: '1000', height: '501', fit: 'fill' }, limits);
  assert.equal(exact.ok, false);
  if (!exact.ok) assert.match(exact.problems[0]!.message, /KILN_MAX_OUTPUT_PIXELS/);
  assert.equal(parseConversionOptions({ output_format: 'png', width: '1000', height: '500' }, limits).ok, true);
  // inside never exceeds the box, so the box alone is no reason to refuse.
  assert.equal(parseConversionOptions({ output_format: 'png', width: '1000', height: '1000', fit: 'inside' }, limits).ok, true);
});

test('field names that are Object.prototype members are unknown options, not duplicates', () => {
  for (const name of ['__proto__', 'constructor', 'toString']) {
    const fields = Object.create(null) as Record<string, string>;
    fields.output_format = 'png';
    fields[name] = '1';
    const result = parseConversionOptions(fields, limits);
    assert.equal(result.ok, false, name);
    if (!result.ok) assert.deepEqual(result.problems, [{ field: name, message: `unknown option ${name}` }]);
  }
});

test('output formats take the common aliases in any case; a missing one is called required', () => {
  for (const [given, expected] of [
    ['jpg', 'jpeg'],
    ['JPG', 'jpeg'],
    ['WEBP', 'webp'],
    ['Tif', 'tiff'],
    ['jpe', 'jpeg'],
    ['avif', 'avif'],
  ] as const) {
    assert.deepEqual(parseConversionOptions({ output_format: given }, limits), { ok: true, options: { output_format: expected } }, given);
  }
  assert.deepEqual(parseConversionOptions({ output_format: 'png', fit: 'INSIDE', width: '10', height: '10' }, limits), {
    ok: true,
    options: { output_format: 'png', fit: 'inside', width: 10, height: 10 },
  });
  assert.deepEqual(parseConversionOptions({}, limits), { ok: false, problems: [{ field: 'output_format', message: 'output_format is required' }] });
  const wrong = parseConversionOptions({ output_format: 'bmp' }, limits);
  assert.equal(wrong.ok, false);
  if (!wrong.ok) assert.match(wrong.problems[0]!.message, /must be one of jpeg, png/);
});
