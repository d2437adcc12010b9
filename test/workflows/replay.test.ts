import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../src/worker/temporal-worker.js';
import { projectRoot } from '../../src/paths.js';
import { installTestRuntime } from '../support/temporal.js';

/**
 * Runs started by an earlier version of the workflows may still be in flight when Kiln is
 * upgraded; today's code must replay each exactly as it was recorded (the `patched` calls
 * keep the old paths). The histories were recorded from the workflow code of each commit
 * that changed what a run records (scripts/record-workflow-histories.ts): conversions that
 * succeed, fail, and are cancelled by a request or a signal; deliveries that succeed, retry,
 * give up, are re-delivered during their retries, are cancelled, and that start after a
 * first attempt made without them; jobs that succeed, fail, are cancelled both ways, and
 * continue as new.
 */
const dir = path.join(projectRoot, 'test', 'fixtures', 'histories');
const fixtures = readdirSync(dir)
  .filter((name) => name.endsWith('.json'))
  .sort();

const JOB_SCENARIOS = ['job-cancel-requested', 'job-cancel-signal', 'job-continued-as-new', 'job-failed', 'job-succeeded'];
const SOURCE_SCENARIOS = ['source-failed', 'source-fetched'];

test('every recorded generation of every scenario is on file', () => {
  const commits = new Set(fixtures.map((name) => name.split('-')[0]));
  assert.ok(commits.size >= 5, `histories of ${commits.size} generations`);
  let withJobs = 0;
  for (const commit of commits) {
    const scenarios = fixtures.filter((name) => name.startsWith(`${commit}-`)).map((name) => name.slice(commit!.length + 1, -'.json'.length));
    const jobs = scenarios.filter((name) => name.startsWith('job-'));
    const sources = scenarios.filter((name) => name.startsWith('source-'));
    assert.equal(scenarios.length - jobs.length - sources.length, 10, `ten conversion and delivery scenarios from ${commit}`);
    // Generations from before sources existed have none; the others have both.
    if (sources.length > 0) assert.deepEqual(sources.sort(), SOURCE_SCENARIOS, `every source scenario from ${commit}`);
    // Generations from before jobs existed have none; the others have all of them.
    if (jobs.length > 0) {
      assert.deepEqual(jobs.sort(), JOB_SCENARIOS, `every job scenario from ${commit}`);
      withJobs++;
    }
  }
  assert.ok(withJobs >= 1, 'a generation with jobs');
});

test("today's workflow code replays every recorded history without a determinism error", async () => {
  installTestRuntime();
  const bundle = await workflowBundle();
  for (const name of fixtures) {
    const history: unknown = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
    await assert.doesNotReject(Worker.runReplayHistory({ workflowBundle: bundle }, history, name), `${name} replays`);
  }
});
