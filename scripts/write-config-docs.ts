/**
 * `npm run docs:config`: writes the table of every setting in docs/configuration.md from
 * SETTINGS in src/config.ts (test/unit/config.test.ts fails while the two differ).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { settingsReference } from '../src/config.js';
import { projectRoot } from '../src/paths.js';

export const CONFIG_DOC = path.join(projectRoot, 'docs', 'configuration.md');
export const TABLE_START = '<!-- settings table: written by `npm run docs:config` from src/config.ts -->';
export const TABLE_END = '<!-- end of settings table -->';

/** The document with its table replaced by the one SETTINGS makes. */
export function withCurrentTable(doc: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${CONFIG_DOC} has lost its table markers`);
  return `${doc.slice(0, start + TABLE_START.length)}\n\n${settingsReference()}\n\n${doc.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(CONFIG_DOC, withCurrentTable(readFileSync(CONFIG_DOC, 'utf8')));
  console.log(`wrote ${path.relative(projectRoot, CONFIG_DOC)}`);
}
