import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { residentBytes } from '../../src/convert/converter-pool.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { onePixelPng } from '../support/hostile.js';
import { identify, makeImage } from '../support/images.js';
import { assertNothingLeft } from '../support/leftovers.js';
import { waitUntil } from '../support/processes.js';

const MEMORY_LIMIT_MB = 1024;
const SLOTS = 2;

describe('cancel with every convert slot busy (real converter processes)', () => {
  let kiln: TestKiln;
  let key: string;
  let tiny: Buffer;

  before(async () => {
    kiln = await startTestKiln('embedded', {
      KILN_CONVERT_CONCURRENCY: String(SLOTS),
      // AVIF at effort 9 makes a 1×1 PNG asked for 4000² a ~50 s encode: CPU-heavy work from a tiny upload.
      KILN_AVIF_EFFORT: '9',
    });
    key = (await createAccount(kiln.url, kiln.adminToken, 'limits')).key;
    tiny = await onePixelPng();
  });
  after(async () => kiln?.stop());

  const submit = (file: Buffer, fields: Record<string, string>) =>
    request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(file, 'in.png', fields) });

  async function convertActivityStarted(workflowId: string): Promise<boolean> {
    const description = await kiln.env.client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    return (description?.raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'convertImage' && a.lastStartedTime);
  }

  test('cancelling CPU-heavy conversions stops their work: a small conversion then finishes within seconds', async () => {
    const heavy = await Promise.all([1, 2].map(() => submit(tiny, { output_format: 'avif', width: '4000', height: '4000', fit: 'fill', enlarge: 'true' })));
    for (const response of heavy) assert.equal(response.status, 202, JSON.stringify(response.body));
    await waitUntil(
      async () => (await Promise.all(heavy.map((r) => convertActivityStarted(r.body.workflow_id)))).every(Boolean),
      30_000,
      'both slots to be busy',
    );
    const busyPids = kiln.converterPids();
    assert.equal(busyPids.length, SLOTS);

    const cancelledAt = Date.now();
    for (const response of heavy) {
      const cancelled = await request(`${kiln.url}/v1/conversions/${response.body.id}/cancel`, { method: 'POST', key });
      assert.equal(cancelled.status, 202);
    }
    const small = await submit(await makeImage(40, 30, 'png'), { output_format: 'webp' });
    const done = await waitForConversion(kiln.url, key, small.body.id, 60_000);
    const waited = Date.now() - cancelledAt;
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(await identify(Buffer.from(await (await fetch(done.download_url)).arrayBuffer())), { format: 'webp', width: 40, height: 30 });
    console.log(`cancel: the small conversion finished ${waited} ms after the cancel`);
    // Without a real stop each slot stays busy for the rest of a ~50 s encode.
    assert.ok(waited < 10_000, `the small conversion finished ${waited} ms after the cancel`);
    // The processes that were encoding were killed, not left to finish in the background.
    assert.deepEqual(
      kiln.converterPids().filter((pid) => busyPids.includes(pid)),
      [],
    );
    for (const response of heavy) assert.equal((await waitForConversion(kiln.url, key, response.body.id)).status, 'cancelled');
  });

  test('cancelling one file of a job under way stops its converter; the job reports the file cancelled', async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries({ output_format: 'avif', width: '4000', height: '4000', fit: 'fill', enlarge: 'true', concurrency: '2' })) {
      form.set(name, value);
    }
    for (const name of ['a.png', 'b.png']) form.append('file', new Blob([tiny]), name);
    const job = await request(`${kiln.url}/v1/jobs`, { method: 'POST', key, body: form });
    assert.equal(job.status, 202, JSON.stringify(job.body));
    const files = (await request(`${kiln.url}/v1/jobs/${job.body.id}/conversions`, { key })).body.data as Array<{ id: string }>;
    const statuses = async () => Promise.all(files.map(async (file) => (await request(`${kiln.url}/v1/conversions/${file.id}`, { key })).body.status));
    await waitUntil(async () => (await statuses()).every((status) => status === 'running'), 30_000, 'both files to be converting');
    const busyPids = kiln.converterPids();
    assert.equal(busyPids.length, SLOTS);

    const cancelled = await request(`${kiln.url}/v1/conversions/${files[0]!.id}/cancel`, { method: 'POST', key });
    assert.equal(cancelled.status, 202);
    assert.equal(cancelled.body.status, 'cancelled');
    // Its file has no run of its own; the chunk watching its row kills the converter, rather than leave a ~50 s encode to finish.
    await waitUntil(() => busyPids.some((pid) => !kiln.converterPids().includes(pid)), 30_000, "the cancelled file's converter to be stopped");
    const progress = async () =>
      ((await request(`${kiln.url}/v1/events?subject_id=${job.body.id}&type=job.progress`, { key })).body.data as any[]).map((event) => [
        event.data.file.index,
        event.data.file.status,
      ]);
    await waitUntil(async () => (await progress()).length === 1, 30_000, 'the job to report the file');
    assert.deepEqual(await progress(), [[0, 'cancelled']]);
    assert.equal((await request(`${kiln.url}/v1/conversions/${files[0]!.id}`, { key })).body.output, null);

    assert.equal((await request(`${kiln.url}/v1/jobs/${job.body.id}/cancel`, { method: 'POST', key })).status, 202);
    await waitUntil(async () => (await request(`${kiln.url}/v1/jobs/${job.body.id}`, { key })).body.status === 'cancelled', 60_000, 'the job to end cancelled');
  });
});

describe('memory with every convert slot busy (real converter processes)', () => {
  let kiln: TestKiln;
  let key: string;
  let tiny: Buffer;

  before(async () => {
    // AVIF at sharp's effort 2 reaches a GiB within seconds, so the ceiling, not the clock, stops it.
    kiln = await startTestKiln('embedded', { KILN_CONVERT_CONCURRENCY: String(SLOTS), KILN_CONVERT_MEMORY_LIMIT_MB: String(MEMORY_LIMIT_MB) });
    key = (await createAccount(kiln.url, kiln.adminToken, 'memory')).key;
    tiny = await onePixelPng();
  });
  after(async () => kiln?.stop());

  const submit = (file: Buffer, fields: Record<string, string>) =>
    request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(file, 'in.png', fields) });

  test('the worst permitted outputs on every slot stay under the stated memory ceiling', async () => {
    const baseline = residentBytes(process.pid)!;
    let converterPeak = 0;
    let workerPeak = baseline;
    let totalPeak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const converters = kiln.converterPids().map((pid) => residentBytes(pid) ?? 0);
        const worker = residentBytes(process.pid) ?? 0;
        converterPeak = Math.max(converterPeak, ...converters);
        workerPeak = Math.max(workerPeak, worker);
        totalPeak = Math.max(totalPeak, worker + converters.reduce((a, b) => a + b, 0));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // 7000² is just under the 50 MP output limit; these are what a 69-byte upload can still ask for (with enlarge).
    const cases: Array<[Record<string, string>, string[]]> = [
      [{ output_format: 'avif', width: '7000', height: '7000', fit: 'fill', enlarge: 'true' }, ['memory_limit_exceeded']],
      [{ output_format: 'gif', width: '7000', height: '7000', fit: 'fill', enlarge: 'true' }, ['succeeded', 'memory_limit_exceeded']],
      [{ output_format: 'jpeg', width: '7000', height: '7000', fit: 'fill', enlarge: 'true' }, ['succeeded']],
      [{ output_format: 'webp', width: '7000', height: '7000', fit: 'fill', enlarge: 'true' }, ['succeeded']],
    ];
    let outcomes: string[];
    try {
      const accepted = await Promise.all(cases.map(([fields]) => submit(tiny, fields)));
      outcomes = await Promise.all(
        accepted.map(async (response) => {
          const done = await waitForConversion(kiln.url, key, response.body.id, 180_000);
          return done.status === 'failed' ? done.error.code : done.status;
        }),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    for (const [i, [fields, allowed]] of cases.entries()) assert.ok(allowed.includes(outcomes[i]!), `${JSON.stringify(fields)} → ${outcomes[i]}`);
    const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);
    const overshoot = 96 * 2 ** 20; // what a converter can allocate between two 25 ms polls
    assert.ok(converterPeak <= MEMORY_LIMIT_MB * 2 ** 20 + overshoot, `converter peak ${mib(converterPeak)} MiB`);
    assert.ok(converterPeak > 300 * 2 ** 20, `the cases really used memory (peak ${mib(converterPeak)} MiB)`);
    // The worker process only holds uploads and outputs in flight: both small here.
    assert.ok(workerPeak - baseline < 300 * 2 ** 20, `worker grew by ${mib(workerPeak - baseline)} MiB`);
    const ceiling = baseline + 300 * 2 ** 20 + SLOTS * (MEMORY_LIMIT_MB * 2 ** 20 + overshoot);
    assert.ok(totalPeak <= ceiling, `worker + converters peaked at ${mib(totalPeak)} MiB, ceiling ${mib(ceiling)} MiB`);
    console.log(
      `memory: converter peak ${mib(converterPeak)} MiB, worker peak ${mib(workerPeak)} MiB (baseline ${mib(baseline)}), total ${mib(totalPeak)} MiB`,
    );
    await assertNothingLeft(kiln);
  });
});
