import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connectPostgres } from '../../src/db/database.js';
import { accountForApiKey } from '../../src/db/api-keys.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { killSpawned, spawnKiln, startKilnDev, stopGracefully } from '../support/processes.js';
import { freePort } from '../support/postgres.js';
import { request } from '../support/http.js';
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

function kiln(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnKiln(args, { DATABASE_URL: postgres.url, KILN_DATA_DIR: dir.path, ...env });
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

test('kiln keys create without --account is the API client command: logged out, it exits 2 saying how to log in', async () => {
  const result = await kiln(['keys', 'create'], { KILN_CONFIG_DIR: path.join(dir.path, 'no-config'), KILN_URL: '', KILN_API_KEY: '' });
  assert.equal(result.code, 2);
  assert.match(result.output, /not logged in: run kiln login/);
});

test('kiln api refuses to start without DATABASE_URL', async () => {
  const child = spawnKiln(['api'], { DATABASE_URL: '', KILN_DATA_DIR: dir.path });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 2);
  assert.match(child.output(), /needs DATABASE_URL/);
});

test('kiln keys create refuses while kiln dev holds the embedded database, and its key works once made after', async () => {
  const dataDir = `${dir.path}/embedded`;
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const keysCreate = (): Promise<{ code: number | null; output: string }> => {
    const child = spawnKiln(['keys', 'create', '--account', 'solo'], { DATABASE_URL: '', KILN_DATA_DIR: dataDir });
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output: child.output() })));
  };
  const dev = await startKilnDev({ ...ports, DATABASE_URL: '', KILN_DATA_DIR: dataDir });
  let stopped = false;
  try {
    const refused = await keysCreate();
    assert.equal(refused.code, 2, refused.output);
    assert.match(refused.output, /in use by process \d+/);
    assert.doesNotMatch(refused.output, /kiln_[0-9a-z]{20}/, 'no key printed');
    assert.equal(await stopGracefully(dev, 60_000), 0, dev.output());
    stopped = true;

    const made = await keysCreate();
    assert.equal(made.code, 0, made.output);
    const key = JSON.parse(made.output.trim().split('\n').pop()!).api_key as string;
    const again = await startKilnDev({ ...ports, DATABASE_URL: '', KILN_DATA_DIR: dataDir });
    try {
      const listed = await request(`http://127.0.0.1:${ports.PORT}/v1/conversions`, { key });
      assert.equal(listed.status, 200, 'the key made while Kiln was stopped works');
    } finally {
      assert.equal(await stopGracefully(again, 60_000), 0, again.output());
    }
  } finally {
    if (!stopped) await stopGracefully(dev, 60_000);
  }
});
