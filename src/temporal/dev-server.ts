import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ConfigError } from '../config.js';
import { withExplainedDownload } from './temporal-binaries.js';

export interface DevServerOptions {
  port: number;
  uiPort: number;
  dbFilename: string;
  namespace: string;
  sqlitePragmas: string[];
  /** The `temporal` binary (temporal-binaries.ts's locateTemporalCli); without one, the SDK downloads it into `cacheDir`. */
  cli: string | undefined;
  cacheDir: string;
  log: (line: string) => void;
}

export interface RunningDevServer {
  address: string;
  stop(): Promise<void>;
}

/** Raised when a port `kiln dev` needs is already taken: using whatever holds it would be using a stranger. */
class PortInUseError extends ConfigError {}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

async function refuseTakenPorts(options: DevServerOptions): Promise<void> {
  for (const [port, what, variable] of [
    [options.port, 'gRPC', 'TEMPORAL_PORT'],
    [options.uiPort, 'Web UI', 'TEMPORAL_UI_PORT'],
  ] as const) {
    if (await portAnswers(port)) {
      throw new PortInUseError(
        `port ${port} (the Temporal dev server's ${what}) is already in use, perhaps by a Temporal server an earlier kiln dev left running. ` +
          `Stop that process, choose another port with ${variable}, or point Kiln at a server you run yourself with TEMPORAL_ADDRESS.`,
      );
    }
  }
}

/**
 * Task queue fairness (src/fairness.ts): each account's waiting work is dispatched in turn,
 * not in order of arrival. Tasks are written to one partition, the root, so every poll
 * (a child partition forwards it) is served from one fair backlog; with the default four,
 * fairness holds per partition only and a quiet account's task waited 10.7 s behind another's
 * backlog instead of 1.1–1.5 s. Reads keep every partition, so tasks an
 * earlier dev server wrote to the others are still taken.
 */
export const FAIRNESS_DYNAMIC_CONFIG = ['matching.enableFairness=true', 'matching.numTaskqueueWritePartitions=1'];

/**
 * Starts the Temporal dev server (with its Web UI) for `kiln dev` and waits until it answers.
 * It is spawned under `setpriv --pdeathsig`, so the kernel stops it when Kiln's process
 * ends in any way, SIGKILL and crashes included: no orphan keeps the ports for the next start.
 */
export async function startDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  await refuseTakenPorts(options);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--db-filename',
    options.dbFilename,
    '--log-format',
    'pretty',
    '--log-level',
    'warn',
    ...options.sqlitePragmas.flatMap((pragma) => ['--sqlite-pragma', pragma]),
    ...FAIRNESS_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]),
  ];
  const { cli } = options;
  if (!cli) return startThroughSdk(options);

  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  const child = setpriv
    ? spawn(setpriv, ['--pdeathsig', 'TERM', '--', cli, ...args], { stdio: ['ignore', 'inherit', 'inherit'] })
    : spawn(cli, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (!setpriv) options.log('setpriv not found: the Temporal dev server will outlive this process if it is killed');
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitUntilServing(child, address);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { address, stop: () => stopChild(child) };
}

/** No CLI binary of our own (no Go here): the SDK downloads one and runs it itself. */
async function startThroughSdk(options: DevServerOptions): Promise<RunningDevServer> {
  options.log(
    'no Temporal CLI here (TEMPORAL_CLI_PATH, PATH, or a build by tools/temporal-toolchain.ts): trying the SDK download, which needs internet access',
  );
  const executable = { type: 'cached-download', downloadDir: options.cacheDir } as const;
  const env = await withExplainedDownload('Temporal CLI', executable, () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        ip: '127.0.0.1',
        port: options.port,
        ui: true,
        uiPort: options.uiPort,
        dbFilename: options.dbFilename,
        namespace: options.namespace,
        extraArgs: [
          ...options.sqlitePragmas.flatMap((pragma) => ['--sqlite-pragma', pragma]),
          ...FAIRNESS_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]),
        ],
      },
    }),
  );
  return { address: `127.0.0.1:${options.port}`, stop: () => env.teardown() };
}

async function waitUntilServing(child: ChildProcess, address: string, timeoutMs = 60_000): Promise<void> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`the Temporal dev server stopped while starting (${exited}); its output is above`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch {
      if (Date.now() > deadline) throw new Error(`the Temporal dev server did not answer on ${address} within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** SIGTERM, then SIGKILL if it has not gone within 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
