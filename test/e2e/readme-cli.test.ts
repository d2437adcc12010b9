import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { projectRoot } from '../../src/paths.js';
import { freePort } from '../support/postgres.js';
import { magickFormat } from '../support/magick.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { capture, killHard, waitUntil } from '../support/processes.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('readme-cli');
const children: ChildProcess[] = [];
let receiver: Receiver | undefined;
after(async () => {
  await Promise.all(children.map((child) => killHard(child)));
  await receiver?.close();
  dir.remove();
});

/** The shell block under a README heading, a command a line. */
function readmeCommands(heading: string): string[] {
  const readme = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`## ${heading}\n`));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.trim().split('\n');
}

/** A process of its own group (killHard takes it and what it started), its output kept. */
function start(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess & { output: () => string } {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

test("the README's command-line path, each command as shown: npm link, login to npm start's Kiln, convert a folder, listen", async () => {
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const dataDir = path.join(dir.path, 'data');
  const work = path.join(dir.path, 'work');
  mkdirSync(work);
  // npm's global prefix, a config directory and a PATH of this test's own: nothing outside it is touched.
  const prefix = path.join(dir.path, 'npm-global');
  const env = {
    ...process.env,
    ...ports,
    KILN_DATA_DIR: dataDir,
    npm_config_prefix: prefix,
    KILN_CONFIG_DIR: path.join(dir.path, 'config'),
    PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}`,
  };
  // What the README shows, on this test's ports and data directory.
  const asHere = (command: string) =>
    command
      .replaceAll('http://127.0.0.1:3000', `http://127.0.0.1:${ports.PORT}`)
      .replaceAll('"$(cat data/', `"$(cat ${dataDir}/`)
      .replaceAll('127.0.0.1:4000', `127.0.0.1:${receiver!.port}`);

  // The README's first command (npm ci has run): it builds, then runs kiln dev.
  const kiln = start('npm', ['start'], { cwd: projectRoot, env });
  await waitUntil(() => kiln.output().includes('Kiln is running.') || kiln.exitCode !== null, 300_000, 'npm start', 500);
  assert.equal(kiln.exitCode, null, kiln.output());

  receiver = await startReceiver([{ status: 200 }]);
  const [link, login, convert, listen, ...rest] = readmeCommands('From the command line');
  assert.deepEqual(rest, []);
  assert.equal(link, 'npm link');
  const linked = await capture('bash', ['-c', asHere(link)], { cwd: projectRoot, env });
  assert.equal(linked.code, 0, linked.stderr);

  const loggedIn = await capture('bash', ['-c', asHere(login!)], { cwd: work, env });
  assert.equal(loggedIn.code, 0, loggedIn.stdout + loggedIn.stderr);
  assert.match(loggedIn.stdout, /^logged in to http:\/\/127\.0\.0\.1:\d+ as profile default/);

  // The folder the README converts: photographs.
  mkdirSync(path.join(work, 'photos'));
  const photos = ['Aqua.jpg', 'Garden.jpg', 'LadyBird.jpg'];
  for (const name of photos) copyFileSync(path.join('/usr/share/backgrounds/mate/nature', name), path.join(work, 'photos', name));
  const converted = await capture('bash', ['-c', asHere(convert!)], { cwd: work, env });
  assert.equal(converted.code, 0, converted.stdout + converted.stderr);
  assert.deepEqual(readdirSync(path.join(work, 'converted')).sort(), ['Aqua.webp', 'Garden.webp', 'LadyBird.webp']);
  for (const name of readdirSync(path.join(work, 'converted'))) {
    assert.equal(await magickFormat(readFileSync(path.join(work, 'converted', name)), '%m %w'), 'WEBP 1200');
  }

  // listen runs until Ctrl-C: once its stream is open, a conversion's events reach the receiver, signed.
  const listening = start('bash', ['-c', `exec ${asHere(listen!)}`], { cwd: work, env });
  await waitUntil(() => listening.output().includes('forwarding'), 60_000, 'kiln listen to open its stream');
  const secret = /\((whsec_[^)]+)\)/.exec(listening.output())![1]!;
  writeFileSync(path.join(work, 'one.jpg'), readFileSync(path.join(work, 'photos', 'Aqua.jpg')));
  assert.equal((await capture('bash', ['-c', 'kiln convert one.jpg --to png --width 32 --no-wait'], { cwd: work, env })).code, 0);
  const [first] = await receiver.waitForRequests(1, 60_000);
  assert.equal(first!.path, '/kiln');
  const event = new Webhook(secret).verify(first!.body, first!.headers as Record<string, string>) as { type: string };
  assert.equal(event.type, 'file.uploaded');
  await waitUntil(() => /conversion\.completed\s+evt_\w+\s+→ 200/.test(listening.output()), 60_000, 'listen to forward conversion.completed');
  process.kill(-listening.pid!, 'SIGINT');
  assert.equal(await new Promise((resolve) => listening.once('close', resolve)), 0, listening.output());

  // The client-only install the docs show: the packed SDK in a fresh directory, its own kiln against the same Kiln.
  const packed = await capture('npm', ['pack', '--pack-destination', dir.path], { cwd: path.join(projectRoot, 'sdk'), env });
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = path.join(dir.path, packed.stdout.trim().split('\n').at(-1)!);
  const app = path.join(dir.path, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const installed = await capture('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: app, env });
  assert.equal(installed.code, 0, installed.stderr);
  assert.ok(!readdirSync(path.join(app, 'node_modules')).some((name) => ['sharp', '@temporalio', 'pg', 'koa'].includes(name)), 'none of the server came along');
  const imported = await capture(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const sdk = await import('@kiln/sdk'); console.log(['Kiln', 'verifyWebhook', 'signWebhook', 'KilnError'].map((n) => typeof sdk[n]).join())",
    ],
    { cwd: app, env },
  );
  assert.equal(imported.stdout.trim(), 'function,function,function,function', imported.stderr);
  const clientOnly = await capture(path.join(app, 'node_modules', '.bin', 'kiln'), ['conversions', 'list', '--limit', '1', '--json'], { cwd: app, env });
  assert.equal(clientOnly.code, 0, clientOnly.stderr);
  assert.equal(JSON.parse(clientOnly.stdout)[0].input.filename, 'one.jpg');

  process.kill(-kiln.pid!, 'SIGINT');
  await waitUntil(() => kiln.exitCode !== null || kiln.signalCode !== null, 60_000, 'npm start to stop');
});
