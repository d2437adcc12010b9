import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openEmbeddedPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { tempDir } from '../support/temp.js';

// The embedded database's two lanes (src/db/pglite-dialect.ts), on a real PGlite.

const dir = tempDir('session-gate');
let database: DatabaseHandle;

before(async () => {
  database = await openEmbeddedPostgres(dir.path);
});

after(async () => {
  await database?.close();
  dir.remove();
});

/** Runs `select label` on `lane`'s handle; its label is pushed to `order` when it has run. */
function statement(lane: 'db' | 'background', label: string, order: string[]): Promise<void> {
  return sql`select ${label}::text as label`.execute(database[lane]).then(() => {
    order.push(label);
  });
}

test('foreground statements asked while background ones wait run ahead of them', async () => {
  const order: string[] = [];
  const background = ['b1', 'b2', 'b3'].map((label) => statement('background', label, order));
  const foreground = ['f1', 'f2', 'f3'].map((label) => statement('db', label, order));
  await Promise.all([...background, ...foreground]);
  assert.deepEqual(order, ['f1', 'f2', 'f3', 'b1', 'b2', 'b3']);
});

test('between two background statements the event loop turns: a callback queued meanwhile is not held behind the whole backlog', async () => {
  const order: string[] = [];
  const backlog = Array.from({ length: 40 }, (_, i) => statement('background', `b${i}`, order));
  // A callback of the event loop's own (as an upload's socket or file callback is), queued
  // once the first background statement has run: handed over at once, the other 39 ran in
  // the same microtask drain, before it.
  await new Promise<void>((resolve) => {
    void backlog[0]!.then(() => setImmediate(() => (order.push('callback'), resolve())));
  });
  await Promise.all(backlog);
  const at = order.indexOf('callback');
  assert.ok(at > 0 && at < 5, `the callback ran after ${at} background statements: ${order.join(' ')}`);
});

test('background statements are not starved: one goes after at most four foreground turns in a row', async () => {
  const order: string[] = [];
  // The first foreground statement takes the connection; the rest queue behind it with the background one.
  const first = statement('db', 'f0', order);
  const waiting = [statement('background', 'b', order), ...Array.from({ length: 12 }, (_, i) => statement('db', `f${i + 1}`, order))];
  await Promise.all([first, ...waiting]);
  const at = order.indexOf('b');
  assert.ok(at >= 1 && at <= 5, `the background statement ran at ${at}: ${order.join(' ')}`);
});

test('while a request is under way, background statements leave the thread to it: each waits three times the last one’s length', async () => {
  const started = performance.now();
  const end = database.requests.begin();
  // pg_sleep never ends early: each turn holds at least 20 ms, so each pause is at least its cap, 50 ms.
  await Promise.all(Array.from({ length: 8 }, () => sql`select pg_sleep(0.02)`.execute(database.background))).finally(end);
  const took = performance.now() - started;
  // A lower bound, which a busy machine only makes easier to meet; unpaced, the same took about 200 ms here.
  assert.ok(took >= 8 * 20 + 7 * 50, `8 paced statements of 20 ms took ${took.toFixed(0)} ms`);
});
