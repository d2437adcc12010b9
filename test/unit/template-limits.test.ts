import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TemplateRenderer } from '../../src/webhooks/template.js';

// Each bound is tried with the others far out of its way, so which one stops the render does
// not depend on how busy the machine is (the API test of templates takes either).
const input = { type: 'conversion.completed', id: 'evt_1', data: {} };

test('a template whose output passes the byte bound fails with its size, and the renderer goes on', async () => {
  const renderer = new TemplateRenderer({ timeoutMs: 60_000, maxOutputBytes: 1024, memoryMb: 64 });
  try {
    const huge = await renderer.render('{"blob": $pad("", 5000)}', input);
    assert.deepEqual(huge, { ok: false, message: "the template's output is larger than 1024 bytes" });
    assert.deepEqual(await renderer.render('{"kind": type}', input), { ok: true, body: '{"kind":"conversion.completed"}' });
  } finally {
    renderer.close();
  }
});

test('a template that never ends is stopped at the time bound, and the next render gets a new process', async () => {
  const renderer = new TemplateRenderer({ timeoutMs: 200, maxOutputBytes: 1024 * 1024, memoryMb: 64 });
  try {
    const looping = await renderer.render('($f := function($n) { $f($n + 1) }; $f(0))', input);
    assert.deepEqual(looping, { ok: false, message: 'the template ran longer than 200 ms' });
    assert.deepEqual(await renderer.render('id', input), { ok: true, body: '"evt_1"' });
  } finally {
    renderer.close();
  }
});
