import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasPrefix, newId } from '../../src/ids.js';

test('ids carry their prefix and sort by creation time', () => {
  const earlier = newId('cnv', 1_700_000_000_000);
  const later = newId('cnv', 1_700_000_000_001);
  assert.ok(hasPrefix(earlier, 'cnv'));
  assert.ok(!hasPrefix(earlier, 'evt'));
  assert.ok(earlier < later);
});

test('ids are unique', () => {
  const ids = new Set(Array.from({ length: 10_000 }, () => newId('evt')));
  assert.equal(ids.size, 10_000);
});
