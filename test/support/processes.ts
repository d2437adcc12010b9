import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { KILN_PROCESS_ENVIRONMENT } from '../../tools/topology/topology.js';

const spawned = new Set<ChildProcess>();

/** Kills every process group spawnKiln started that is still alive; for `after` hooks, so a failed test leaves nothing running. */
export async function killSpawned(): Promise<void> {
  await Promise.all([...spawned].map((child) => killHard(child)));
}

/**
 * Runs `kiln <args>` in a child process of its own process group: from source, or with
 * `built` the compiled dist/ that `npm start` runs (`npm run build` first).
 */
export function spawnKiln(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  options: { built?: boolean } = {},
): ChildProcess & { output: () => string } {
  const entry = options.built ? [path.join(projectRoot, 'dist/src/cli/main.js')] : ['--import', 'tsx', path.join(projectRoot, 'src/cli/main.ts')];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, ...args], {
    cwd: projectRoot,
    env: { ...KILN_PROCESS_ENVIRONMENT, ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

/** SIGKILL to the whole process group: the process and anything it started, with no chance to clean up. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      resolve();
    }
  });
}

export function stopGracefully(child: ChildProcess, timeoutMs = 30_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not stop within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * `kiln dev` (`built`: the compiled code `npm start` runs) once it says it is running;
 * throws with its output when it exits instead, or after `timeoutMs`.
 */
export async function startKilnDev(
  env: Record<string, string>,
  options: { built?: boolean; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<ChildProcess & { output: () => string }> {
  const child = spawnKiln(['dev'], env, options.nodeArgs ?? [], { built: options.built });
  await waitUntil(() => child.output().includes('Kiln is running.') || child.exitCode !== null, options.timeoutMs ?? 180_000, 'kiln dev to start');
  if (child.exitCode !== null) throw new Error(`kiln dev exited (${child.exitCode}):\n${child.output()}`);
  return child;
}

/** Runs a command to its end and answers its exit code and output (for tools whose output a test reads). */
export function capture(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
