import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, SETTING_NAMES } from '../../src/config.js';
import { projectRoot } from '../../src/paths.js';
import { CLIENT_VARIABLES } from '../../sdk/src/cli/profiles.js';
import { CONFIG_DOC, withCurrentTable } from '../../scripts/write-config-docs.js';

test('docs/configuration.md lists every setting as src/config.ts declares it (npm run docs:config rewrites it)', () => {
  const doc = readFileSync(CONFIG_DOC, 'utf8');
  assert.equal(doc, withCurrentTable(doc), 'the table is stale: run npm run docs:config');
});

test('every Kiln variable the README and the reference name is a setting, or one of the command line', () => {
  // docs/testing.md and benchmarks.md name the test runner's own variables; code samples name a receiver's.
  const pages = [
    'README.md',
    ...readdirSync(path.join(projectRoot, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ].filter((page) => !['docs/testing.md', 'docs/benchmarks.md'].includes(page));
  for (const page of pages) {
    const text = readFileSync(path.join(projectRoot, page), 'utf8').replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
    for (const [name] of text.matchAll(/\bKILN_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      assert.ok(SETTING_NAMES.includes(name) || name in CLIENT_VARIABLES, `${page} names ${name}, which neither Kiln nor its command line reads`);
    }
  }
});

test('defaults parse, and settings whose default is another follow it', () => {
  const defaults = loadConfig({ HOME: '/home/someone' });
  assert.equal(defaults.maxUploadBytes, 50 * 1024 * 1024);
  assert.equal(defaults.sourceMaxBytes, defaults.maxUploadBytes);
  assert.equal(defaults.jobConcurrency, 2 * defaults.convertConcurrency);
  assert.equal(defaults.blobDir, path.join(defaults.dataDir, 'blobs'));
  assert.deepEqual(defaults.temporalSqlitePragmas, ['journal_mode=WAL', 'synchronous=NORMAL']);
  const set = loadConfig({ KILN_MAX_UPLOAD_BYTES: '10MiB', KILN_CONVERT_CONCURRENCY: '3', KILN_DATA_DIR: '/srv/kiln', XDG_CACHE_HOME: '/var/cache' });
  assert.equal(set.sourceMaxBytes, 10 * 1024 * 1024);
  assert.equal(set.jobConcurrency, 6);
  assert.equal(set.blobDir, '/srv/kiln/blobs');
  assert.equal(set.cacheDir, '/var/cache/kiln');
});

test('sizes take a binary unit or bytes; an empty value is unset unless empty means something', () => {
  assert.equal(loadConfig({ KILN_MAX_JOB_BYTES: '3GiB' }).maxJobBytes, 3 * 1024 ** 3);
  assert.equal(loadConfig({ KILN_MAX_JOB_BYTES: '4096' }).maxJobBytes, 4096);
  assert.equal(loadConfig({ KILN_MAX_UPLOAD_BYTES: '' }).maxUploadBytes, 50 * 1024 * 1024);
  assert.deepEqual(loadConfig({ KILN_TEMPORAL_SQLITE_PRAGMAS: '' }).temporalSqlitePragmas, []);
  assert.deepEqual(loadConfig({ KILN_WEBHOOK_RETRY_SCHEDULE: '' }).webhookRetrySchedule, []);
  assert.deepEqual(loadConfig({ KILN_WEBHOOK_ALLOWED_CIDRS: '' }).webhookAllowedCidrs, []);
  assert.equal(loadConfig({ KILN_PUBLIC_URL: 'https://img.example.com//' }).publicUrl, 'https://img.example.com');
});

test('every value a setting cannot take is named, all at once', () => {
  const error = (() => {
    try {
      loadConfig({
        PORT: '70000',
        KILN_MAX_UPLOAD_BYTES: '50MB',
        KILN_AVIF_EFFORT: '2.5',
        KILN_LOG_LEVEL: 'loud',
        KILN_PUBLIC_URL: 'ftp://x',
        KILN_IDEMPOTENCY_TTL: '1w',
      });
    } catch (caught) {
      return caught;
    }
    assert.fail('loadConfig accepted them');
  })();
  assert.ok(error instanceof ConfigError);
  for (const name of ['PORT', 'KILN_MAX_UPLOAD_BYTES', 'KILN_AVIF_EFFORT', 'KILN_LOG_LEVEL', 'KILN_PUBLIC_URL', 'KILN_IDEMPOTENCY_TTL']) {
    assert.match(error.message, new RegExp(`\\b${name}: `), name);
  }
});
