import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from './paths.js';

/** Kiln's version, from package.json. */
export const KILN_VERSION: string = (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** The User-Agent of every webhook request. */
export const WEBHOOK_USER_AGENT = `Kiln-Webhooks/${KILN_VERSION} (self-hosted image conversion)`;
