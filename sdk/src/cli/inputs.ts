import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './args.js';

export type CliInput = { kind: 'url'; url: string; name: string } | { kind: 'file'; path: string; name: string };

/** What a directory contributes: files whose extension names an image (or a document Kiln may read), not `.DS_Store` and the like. */
const IMAGE_EXTENSIONS = new Set(['jpg', 'jpeg', 'jpe', 'png', 'webp', 'gif', 'avif', 'tif', 'tiff', 'heic', 'heif', 'jxl', 'pdf', 'svg', 'bmp']);

const isImageName = (name: string): boolean => IMAGE_EXTENSIONS.has(path.extname(name).slice(1).toLowerCase());

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const found = await Promise.all(
    entries
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(async (entry) => {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) return walk(full);
        return entry.isFile() ? [full] : [];
      }),
  );
  return found.flat();
}

/** A glob as a regular expression over `/`-separated paths: `**` any depth, `*` and `?` within a name, `[…]` a set. */
function globPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) source += '\\[';
      else {
        source += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replaceAll('\\', '\\\\')}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

const hasGlob = (text: string): boolean => /[*?[]/.test(text);

/**
 * The files and URLs `kiln convert` was given: each URL as it is, each file, every image
 * under each directory (in name order), and what each quoted glob matches. A name that
 * matches nothing is a usage error; a file named twice is converted once.
 */
export async function expandInputs(args: readonly string[]): Promise<CliInput[]> {
  const inputs: CliInput[] = [];
  const seen = new Set<string>();
  const addFile = (file: string): void => {
    const resolved = path.resolve(file);
    if (seen.has(resolved)) return;
    seen.add(resolved);
    inputs.push({ kind: 'file', path: file, name: path.basename(file) });
  };
  for (const arg of args) {
    if (/^https?:\/\//i.test(arg)) {
      let name: string;
      try {
        name = decodeURIComponent(new URL(arg).pathname.split('/').pop() || '') || 'image';
      } catch {
        throw new UsageError(`not a URL: ${arg}`);
      }
      inputs.push({ kind: 'url', url: arg, name });
      continue;
    }
    const info = await stat(arg).catch(() => undefined);
    if (info?.isDirectory()) {
      const files = (await walk(arg)).filter((file) => isImageName(file));
      if (files.length === 0) throw new UsageError(`${arg} holds no images`);
      files.forEach(addFile);
    } else if (info?.isFile()) addFile(arg);
    else if (hasGlob(arg)) {
      const parts = arg.split(/[\\/]/);
      const firstGlob = parts.findIndex(hasGlob);
      const root = parts.slice(0, firstGlob).join('/') || '.';
      const pattern = globPattern(parts.slice(firstGlob).join('/'));
      const matched = (await walk(root).catch(() => [])).filter((file) => pattern.test(path.relative(root, file).split(path.sep).join('/')));
      if (matched.length === 0) throw new UsageError(`${arg} matches no file`);
      matched.forEach(addFile);
    } else throw new UsageError(`no such file or directory: ${arg}`);
  }
  return inputs;
}
