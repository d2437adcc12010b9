import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const PHOTO_DIR = '/usr/share/backgrounds/mate';

/** The JPEG photographs of Debian's mate-backgrounds, installing the package when missing. */
export function ensurePhotos(): string[] {
  if (!existsSync(PHOTO_DIR)) {
    console.error('installing Debian package mate-backgrounds (real photographs for the benchmark)...');
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const apt = (args: string[]) =>
      execFileSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), ...args], {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', '--no-install-recommends', 'mate-backgrounds']);
  }
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : /\.jpe?g$/i.test(name) ? [full] : [];
    });
  return walk(PHOTO_DIR).sort();
}

/** Runs `fn` over `items`, at most `limit` at once. */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
