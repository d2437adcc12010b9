import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The repository's `kiln` (src/cli/main.ts through tsx), as a user's shell runs it. */
export function kilnCommand(): string[] {
  return [process.execPath, '--import', 'tsx', path.join(projectRoot, 'src/cli/main.ts')];
}

/**
 * Runs `kiln <args>` as a subprocess (never synchronously: Kiln may be serving this very
 * test from the same process) and answers its exit code and output.
 */
export function runKiln(args: readonly string[], options: { env: Record<string, string>; stdin?: string; cwd?: string }): Promise<CliResult> {
  const [node, ...rest] = kilnCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(node!, [...rest, ...args], {
      cwd: options.cwd ?? projectRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** A `kiln` that keeps running (listen, events tail): its output so far, and a way to wait for its end. */
export function startKiln(
  args: readonly string[],
  options: { env: Record<string, string> },
): {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  ended: Promise<number | null>;
} {
  const [node, ...rest] = kilnCommand();
  const child = spawn(node!, [...rest, ...args], { cwd: projectRoot, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, ended };
}
