import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository root, whether this runs from source (src/) or compiled (dist/src/). */
export const projectRoot: string = (() => {
  let dir = here;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${here}`);
    dir = parent;
  }
  return dir;
})();

/** Directory holding the compiled-or-source tree this module runs from (repo root or dist/). */
export const codeRoot: string = path.dirname(here);

/** `.ts` under tsx, `.js` once compiled. */
export const moduleExtension: string = path.extname(fileURLToPath(import.meta.url));
