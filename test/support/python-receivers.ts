import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../src/free-port.js';
import { projectRoot } from '../../src/paths.js';
import { findOrBuildReceiverPython } from '../../tools/python-venv.js';
import { waitUntil } from './processes.js';

/**
 * The receivers other services publish (test/receivers/*.py), run as they are under their
 * own servers (Flask's, uvicorn), in a Python virtualenv of test/receivers/requirements.txt.
 */

const receiversDir = path.join(projectRoot, 'test', 'receivers');

export interface PythonReceiver {
  /** Base URL, without a path. */
  url: string;
  /** Everything it printed (stdout and stderr), in order. */
  output(): string;
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** `server` is `flask` (app module `app`) or `uvicorn` (`module:app`). */
export async function startPythonReceiver(
  server: 'flask' | 'uvicorn',
  app: string,
  options: { cwd: string; env?: Record<string, string> },
): Promise<PythonReceiver> {
  const python = await findOrBuildReceiverPython();
  const port = await freePort();
  const args =
    server === 'flask'
      ? ['-m', 'flask', '--app', app, 'run', '--host', '127.0.0.1', '--port', String(port)]
      : ['-m', 'uvicorn', app, '--host', '127.0.0.1', '--port', String(port)];
  const child: ChildProcess = spawn(python, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, PYTHONPATH: receiversDir, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`${app} exited while starting:\n${output}`);
      return accepts(port);
    },
    30_000,
    `${app} to listen`,
    100,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
