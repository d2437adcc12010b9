import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectPostgres } from '../../src/db/database.js';
import { accountForApiKey } from '../../src/db/api-keys.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { killSpawned, spawnKiln } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

let postgres: TestPostgres;
const dir = tempDir('cli');

before(async () => {
  postgres = await startTestPostgres();
});
after(async () => {
  await killSpawned();
  postgres?.stop();
  dir.remove();
});

function kiln(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawnKiln(args, { DATABASE_URL: postgres.url, KILN_DATA_DIR: dir.path });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output: child.output() })));
}

test('kiln keys create makes the account once and a new working key each time', async () => {
  const first = await kiln(['keys', 'create', '--account', 'acme']);
  assert.equal(first.code, 0, first.output);
  const created = JSON.parse(first.output.trim().split('\n').pop()!);
  assert.equal(created.created_account, true);
  assert.match(created.api_key, /^kiln_/);

  const second = await kiln(['keys', 'create', '--account', 'acme']);
  const again = JSON.parse(second.output.trim().split('\n').pop()!);
  assert.equal(again.created_account, false);
  assert.equal(again.account_id, created.account_id);
  assert.notEqual(again.api_key, created.api_key);

  const database = connectPostgres(postgres.url);
  try {
    assert.equal((await accountForApiKey(database.db, created.api_key))?.id, created.account_id);
    assert.equal((await accountForApiKey(database.db, again.api_key))?.id, created.account_id);
  } finally {
    await database.close();
  }
});

test('kiln keys create without --account exits 2 with a message', async () => {
  const result = await kiln(['keys', 'create']);
  assert.equal(result.code, 2);
  assert.match(result.output, /needs --account NAME/);
});

test('kiln api refuses to start without DATABASE_URL', async () => {
  const child = spawnKiln(['api'], { DATABASE_URL: '', KILN_DATA_DIR: dir.path });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 2);
  assert.match(child.output(), /needs DATABASE_URL/);
});
