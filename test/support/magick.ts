import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * ImageMagick, a decoder independent of sharp/libvips, asked about one image: `format` is
 * an identify format string (`%[colorspace]`, `%[EXIF:Make]`, `%[pixel:p{0,0}]`…).
 */
export async function magickFormat(bytes: Buffer, format: string): Promise<string> {
  return (await run('convert', ['-', '-format', format, 'info:'], bytes)).toString().trim();
}

/**
 * An image ImageMagick makes (`convert` arguments ending in an output such as `png:-`). Never
 * execFileSync where Kiln runs in the test's process: a blocked event loop outlasts the
 * server's keep-alive, and the next request dies on the closed connection.
 */
export function magickImage(args: string[]): Promise<Buffer> {
  return run('convert', args, Buffer.alloc(0));
}

/**
 * Root-mean-square difference (0 same, 1 opposite) between two images after ImageMagick
 * decodes both and applies `ops` (convert arguments such as `-crop 200x100+10+10`) to `a`.
 */
export async function magickDistance(a: Buffer, ops: string[], b: Buffer): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-magick-'));
  try {
    const [left, right] = [path.join(dir, 'a'), path.join(dir, 'b')];
    writeFileSync(left, a);
    writeFileSync(right, b);
    // compare writes the metric to stderr and exits 1 when the images differ at all.
    const out = (
      await run('sh', ['-c', `convert "${left}" ${ops.join(' ')} +repage png:- | compare -metric RMSE png:- "${right}" null: 2>&1 || true`], Buffer.alloc(0))
    ).toString();
    const normalized = /\(([\d.e-]+)\)/.exec(out)?.[1];
    if (normalized === undefined) throw new Error(`compare said: ${out}`);
    return Number(normalized);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && command !== 'sh') return reject(new Error(`${command} failed: ${stderr.toString()}`));
      resolve(stdout);
    });
    child.stdin!.end(input);
  });
}
