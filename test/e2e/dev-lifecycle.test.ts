import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tempDir } from '../support/temp.js';
import { freePort } from '../support/postgres.js';
import { portAnswers } from '../../src/temporal/dev-server.js';
import { killSpawned, spawnKiln, waitUntil } from '../support/processes.js';

const dir = tempDir('dev-lifecycle');
after(async () => {
  await killSpawned();
  dir.remove();
});

const pids = (): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\u0000');
  } catch {
    return [];
  }
}

/** Pid state from /proc/<pid>/stat: running, sleeping, … or undefined once it is gone. */
function stat(pid: number): { state: string; parent: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, parent] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: state!, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/** Pids whose command line holds every one of `words` (read from /proc, so no tool is needed). */
const processesWith = (...words: string[]): number[] => pids().filter((pid) => words.every((word) => commandLine(pid).includes(word)));
const childrenOf = (parent: number): number[] => pids().filter((pid) => stat(pid)?.parent === parent);
/** A zombie has exited; it only waits for its parent to read its status. */
const alive = (pid: number): boolean => !['Z', 'X', undefined].includes(stat(pid)?.state);

test('kiln dev killed outright takes its Temporal dev server and converter processes with it', async () => {
  const ports = { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
  const dev = spawnKiln(['dev'], { ...ports, KILN_DATA_DIR: dir.path });
  await waitUntil(() => dev.output().includes('Kiln is running.') || dev.exitCode !== null, 180_000, 'kiln dev to start');
  assert.equal(dev.exitCode, null, dev.output());
  const [server] = processesWith('start-dev', '--port', ports.TEMPORAL_PORT);
  assert.ok(server, 'the dev server runs as its own process');
  assert.ok(await portAnswers(Number(ports.TEMPORAL_PORT)));
  const converters = childrenOf(dev.pid!).filter((pid) => commandLine(pid).some((arg) => arg.includes('converter-process')));
  assert.ok(converters.length > 0, 'converter processes run beside it');

  // Only the Kiln process: its children get no signal from us, as after a crash.
  process.kill(dev.pid!, 'SIGKILL');
  await waitUntil(() => !alive(server), 15_000, 'the dev server to stop with its parent');
  await waitUntil(() => converters.every((pid) => !alive(pid)), 15_000, 'the converter processes to stop with their parent');
  assert.equal(await portAnswers(Number(ports.TEMPORAL_PORT)), false, 'the gRPC port is free for the next start');
});

test('kiln dev refuses to start when its Temporal port is already taken', async () => {
  const squatter = net.createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  try {
    const env = { PORT: String(await freePort()), TEMPORAL_PORT: String(port), TEMPORAL_UI_PORT: String(await freePort()), KILN_DATA_DIR: dir.path };
    const dev = spawnKiln(['dev'], env);
    await waitUntil(() => dev.exitCode !== null, 60_000, 'kiln dev to give up');
    assert.equal(dev.exitCode, 2, dev.output());
    assert.match(dev.output(), new RegExp(`port ${port} \\(the Temporal dev server's gRPC\\) is already in use`));
    assert.deepEqual(processesWith('start-dev', '--port', String(port)), [], 'no dev server was started');
  } finally {
    squatter.close();
  }
});
