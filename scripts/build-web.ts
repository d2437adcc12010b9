/**
 * Builds the dashboard (web/) into dist/web: its TypeScript and Preact bundled by esbuild
 * into one ES module, minified, beside its stylesheet and page. `npm run build` runs it,
 * and so do the tests before they start (it takes well under a second).
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../src/paths.js';
import { DASHBOARD_DIR } from '../src/api/routes/dashboard.js';

export async function buildWeb(): Promise<{ dir: string; scriptBytes: number }> {
  const source = path.join(projectRoot, 'web');
  rmSync(DASHBOARD_DIR, { recursive: true, force: true });
  mkdirSync(path.join(DASHBOARD_DIR, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: [path.join(source, 'src', 'main.tsx')],
    outfile: path.join(DASHBOARD_DIR, 'assets', 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: path.join(source, 'tsconfig.json'),
    // The SDK reads a path from disk only in Node; a browser never takes that branch.
    external: ['node:*'],
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(path.join(source, 'index.html'), path.join(DASHBOARD_DIR, 'index.html'));
  copyFileSync(path.join(source, 'app.css'), path.join(DASHBOARD_DIR, 'assets', 'app.css'));
  const scriptBytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
  return { dir: DASHBOARD_DIR, scriptBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { dir, scriptBytes } = await buildWeb();
  console.log(`dashboard built in ${path.relative(projectRoot, dir)}: ${(scriptBytes / 1024).toFixed(1)} KB of JavaScript`);
}
