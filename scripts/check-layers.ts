/**
 * `npm run check` runs this: Kiln's modules stand in layers (docs/architecture.md), and a
 * module may import only from its own layer or below, never above, and never in a circle.
 * Type-only imports count: a type that points up still ties the lower layer to the upper one.
 *
 * Exits 1 naming every import that points up and every circle.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Layers from the bottom up. A file belongs to the first layer one of whose patterns it
 * matches (a pattern ending in `/` matches the directory, any other the file itself).
 */
export const LAYERS: ReadonlyArray<{ name: string; files: readonly string[] }> = [
  { name: 'sdk: the client package (its own npm package), which knows the server only through the API', files: ['sdk/src/'] },
  {
    name: 'leaves: words and plumbing every layer shares, importing only each other',
    files: [
      'src/ids.ts',
      'src/names.ts',
      'src/log.ts',
      'src/paths.ts',
      'src/version.ts',
      'src/validation.ts',
      'src/free-port.ts',
      'src/loader-args.ts',
      'src/durations.ts',
      'src/config.ts',
      'src/storage/',
      'src/signing/',
      'src/model/',
      'src/net/',
      'src/search-attributes.ts',
      'src/problem.ts',
      'src/safe-input.ts',
      'src/filenames.ts',
      'src/process-alive.ts',
      'src/fairness.ts',
      'src/requests-under-way.ts',
    ],
  },
  { name: 'db: Kysely schema, migrations and queries', files: ['src/db/'] },
  { name: 'workflow contracts: what workflows, activities and their clients exchange', files: ['workflows/definitions.ts'] },
  {
    name: 'domain: image work, events, webhooks, starting and signalling runs',
    files: [
      'src/convert/',
      'src/events/',
      'src/webhooks/',
      'src/sources/',
      'src/conversions/',
      'src/jobs/',
      'src/limits/',
      'src/temporal/',
      'src/metrics.ts',
      'src/process-metrics.ts',
    ],
  },
  { name: 'activities', files: ['activities/'] },
  { name: 'workflows', files: ['workflows/'] },
  { name: 'worker: runs the workflows and activities', files: ['src/worker/'] },
  { name: 'intake: every way a conversion starts', files: ['src/intake/'] },
  { name: 'api', files: ['src/api/'] },
  { name: 'roles', files: ['src/roles/'] },
  { name: 'cli and tools', files: ['src/cli/', 'tools/'] },
];

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function layerOf(file: string): number {
  const index = LAYERS.findIndex((layer) => layer.files.some((pattern) => (pattern.endsWith('/') ? file.startsWith(pattern) : file === pattern)));
  if (index < 0) throw new Error(`${file} is in no layer: add it to LAYERS in scripts/check-layers.ts`);
  return index;
}

function sources(root: string, dir: string): string[] {
  const full = path.join(root, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full).flatMap((name) => {
    const relative = path.join(dir, name);
    if (statSync(path.join(root, relative)).isDirectory()) return sources(root, relative);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [relative] : [];
  });
}

/** The project files each file imports, relative to `root`. */
export function importGraph(root: string, tops: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tops.flatMap((top) => sources(root, top))) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const targets = new Set<string>();
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2] ?? match[3];
      if (!spec?.startsWith('.')) continue;
      const base = path.normalize(path.join(path.dirname(file), spec));
      const candidates = [base.endsWith('.js') ? `${base.slice(0, -3)}.ts` : undefined, `${base}.ts`, path.join(base, 'index.ts')];
      const found = candidates.find((candidate) => candidate !== undefined && existsSync(path.join(root, candidate)));
      if (found) targets.add(found);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** Every import that points to a higher layer. */
export function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([from, targets]) =>
    targets
      .filter((to) => layerOf(to) > layerOf(from))
      .map((to) => `${from} (${LAYERS[layerOf(from)]!.name.split(':')[0]}) imports ${to} (${LAYERS[layerOf(to)]!.name.split(':')[0]})`),
  );
}

/** Strongly connected groups of more than one file (Tarjan). */
export function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const graph = importGraph(root, ['sdk/src', 'src', 'workflows', 'activities', 'tools']);
  const upward = upwardImports(graph);
  const circles = importCircles(graph);
  for (const line of upward) console.error(`layers: ${line}`);
  for (const circle of circles) console.error(`layers: an import circle of ${circle.length} files: ${circle.join(', ')}`);
  if (upward.length > 0 || circles.length > 0) process.exit(1);
}
