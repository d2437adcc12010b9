import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../src/config.js';

/** What the tools that build Kiln's local servers share: the cache directory and a logged child process. */

type Log = (line: string) => void;

export function cacheDir(): string {
  const dir = loadConfig().cacheDir;
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; log: Log; label: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      // eslint-disable-next-line no-control-regex
      for (const line of text.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) if (line.trim()) options.log(`  ${options.label}: ${line.trim()}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${tail}`));
    });
  });
}
