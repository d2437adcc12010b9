import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { connectPostgres, migrateToLatest, openEmbeddedPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { createAccountWithKey } from '../../src/db/accounts.js';
import { insertEventsOnce } from '../../src/db/events.js';
import { EventBell, listenForEvents } from '../../src/events/event-bell.js';
import { freePort } from '../../src/free-port.js';
import { newId } from '../../src/ids.js';
import { ManagedProcess } from '../../tools/topology/managed-process.js';
import { postgresProcess, postgresUrl } from '../../tools/topology/postgres.js';
import { waitUntil } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

/** Longer than any test here runs: a wait that ends did so because the bell rang, not by its fallback. */
const NEVER_MS = 10 * 60_000;

test('the bell wakes the waiters of the account rung, and no one else; a waiter not rung settles at its fallback', async () => {
  const bell = new EventBell();
  const woken: string[] = [];
  const a1 = bell.next('acct_a', NEVER_MS).then(() => woken.push('a1'));
  const a2 = bell.next('acct_a', NEVER_MS).then(() => woken.push('a2'));
  const b = bell.next('acct_b', 50).then(() => woken.push('b (fallback)'));
  bell.ring('acct_a');
  await Promise.all([a1, a2]);
  assert.deepEqual(woken.sort(), ['a1', 'a2']);
  await b;
  assert.deepEqual(woken, ['a1', 'a2', 'b (fallback)']);
  // A ring with no one waiting is not kept for a later waiter: it arms before it reads.
  bell.ring('acct_c');
  const late = bell.next('acct_c', 20).then(() => 'fallback');
  assert.equal(await late, 'fallback');
});

test('a waiter for one subject’s end is woken by that event alone, as the notification names it', async () => {
  const bell = new EventBell();
  const order: string[] = [];
  const itsEnd = bell
    .next('acct_a', NEVER_MS, (event) => event.subjectId === 'cnv_1' && event.type === 'conversion.completed')
    .then(() => order.push('cnv_1 ended'));
  const anything = bell.next('acct_a', NEVER_MS).then(() => order.push('any event'));
  bell.heard('acct_a conversion.started cnv_1');
  bell.heard('acct_a conversion.completed cnv_2');
  await anything;
  assert.deepEqual(order, ['any event'], 'the start, and another conversion’s end, leave the waiter for cnv_1’s end waiting');
  bell.heard('acct_a conversion.completed cnv_1');
  await itsEnd;
  assert.deepEqual(order, ['any event', 'cnv_1 ended']);
});

/** Stores one event of the account, as any publisher does (the trigger of migration 0025 notifies). */
async function storeEvent(database: DatabaseHandle, accountId: string, subjectId = newId('cnv')): Promise<void> {
  await insertEventsOnce(database.db, [{ id: newId('evt'), accountId, type: 'file.uploaded', subjectId, dedupeKey: newId('evt'), data: {} }]);
}

describe('a stored event rings the bell of every process listening, on either database', () => {
  const dir = tempDir('event-bell');
  let embedded: DatabaseHandle;
  let postgres: ManagedProcess;
  let server: DatabaseHandle;
  let serverAgain: DatabaseHandle;

  before(async () => {
    embedded = await openEmbeddedPostgres(path.join(dir.path, 'pglite'));
    await migrateToLatest(embedded.db);
    chmodSync(dir.path, 0o755);
    const port = await freePort();
    postgres = new ManagedProcess({ name: 'postgres', ...postgresProcess({ dir: path.join(dir.path, 'pg'), port }) }, path.join(dir.path, 'logs'));
    await postgres.start();
    server = connectPostgres(postgresUrl(port, 'postgres'));
    await migrateToLatest(server.db);
    // Another process's view of the same server: a listener on a connection of its own.
    serverAgain = connectPostgres(postgresUrl(port, 'postgres'));
  });

  after(async () => {
    await embedded?.close();
    await server?.close();
    await serverAgain?.close();
    await postgres?.stop();
    dir.remove();
  });

  test('embedded: the event’s account is rung at the commit', async () => {
    const { account } = await createAccountWithKey(embedded.db, 'bell');
    const { bell, stop } = await listenForEvents(embedded);
    try {
      const subjectId = newId('cnv');
      // The notification names the event: a waiter for exactly this one is woken.
      const rung = bell.next(account.id, NEVER_MS, (event) => event.type === 'file.uploaded' && event.subjectId === subjectId);
      await storeEvent(embedded, account.id, subjectId);
      await rung;
    } finally {
      await stop();
    }
  });

  test('a server: a listener on another connection is rung, and hears again after the server restarts', async () => {
    const { account } = await createAccountWithKey(server.db, 'bell');
    const { bell, stop } = await listenForEvents(serverAgain);
    try {
      const rung = bell.next(account.id, NEVER_MS);
      await storeEvent(server, account.id);
      await rung;

      await postgres.restart();
      // The listener reopens its connection by itself; until it has, a notification is missed (and a waiter falls back).
      let heard = false;
      await waitUntil(
        async () => {
          const ringing = bell.next(account.id, NEVER_MS).then(() => 'rung' as const);
          await storeEvent(server, account.id);
          heard = (await Promise.race([ringing, new Promise<'missed'>((resolve) => setTimeout(() => resolve('missed'), 400))])) === 'rung';
          return heard;
        },
        60_000,
        'the listener to hear again after the restart',
        0,
      );
      assert.ok(heard);
      // The waits armed while it could not hear end now, rather than at their fallback.
      bell.ring(account.id);
    } finally {
      await stop();
    }
  });
});
