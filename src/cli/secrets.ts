import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Reads a secret kept in a file under the data dir, creating it (mode 600) on first use. */
export function readOrCreateSecret(file: string, create: () => string): string {
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (value) return value;
  }
  const value = create();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}
