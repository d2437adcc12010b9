import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryNames } from '../../src/jobs/archive.js';

test('archive entry names are plain file names: no directories, no control characters, never . or ..', () => {
  assert.deepEqual(entryNames(['../../etc/passwd.webp', 'a\\b.png', 'tab\there.jpg', '..', '.', '', '  ']), [
    '.._.._etc_passwd.webp',
    'a_b.png',
    'tab_here.jpg',
    'file',
    'file (2)',
    'file (3)',
    'file (4)',
  ]);
});

test('archive entry names are unique, ignoring case, numbered before the extension', () => {
  assert.deepEqual(entryNames(['photo.webp', 'photo.webp', 'PHOTO.webp', 'photo (2).webp', 'photo']), [
    'photo.webp',
    'photo (2).webp',
    'PHOTO (3).webp',
    'photo (2) (2).webp',
    'photo',
  ]);
});

test('a very long name keeps its end (the extension) within 200 characters', () => {
  const [name] = entryNames([`${'x'.repeat(300)}.avif`]);
  assert.equal(Array.from(name!).length, 200);
  assert.ok(name!.endsWith('.avif'));
});
