import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { makeImage } from '../support/images.js';
import { waitUntil } from '../support/processes.js';
import { conversionOutputKey } from '../../src/storage/keys.js';

/**
 * A cancel's answer is true: raced against completions at many offsets around the moment a
 * conversion (or a job) ends, every 202 ends cancelled with no output kept and no
 * completion event, and every 409 is for one that ended otherwise. The offsets are spread
 * around the time a conversion takes here, measured first, so the race is run on whatever
 * machine runs it.
 */
describe('cancel answers what the run did', () => {
  let kiln: TestKiln;
  let account: { id: string; key: string };
  let photo: Buffer;
  /** Milliseconds from the upload's answer to the conversion's end (as Kiln recorded it), for one conversion on this machine now. */
  let typical = 0;

  before(async () => {
    kiln = await startTestKiln('embedded');
    account = await createAccount(kiln.url, kiln.adminToken, 'racer');
    photo = await makeImage(320, 240);
    // The first conversions warm the workers up; the median of the next is what a conversion takes now.
    const samples: number[] = [];
    for (let i = 0; i < 7; i++) {
      const { id } = await submit();
      const answered = Date.now();
      const done = await waitForConversion(kiln.url, account.key, id);
      if (i >= 2) samples.push(Date.parse(done.completed_at) - answered);
    }
    typical = Math.max(20, samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!);
  });
  after(async () => kiln?.stop());

  async function submit(fields: Record<string, string> = { output_format: 'webp' }): Promise<{ id: string }> {
    const response = await request(`${kiln.url}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(photo, 'p.jpg', fields),
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    return response.body;
  }

  async function eventTypes(subjectId: string): Promise<string[]> {
    const listed = await request(`${kiln.url}/v1/events?subject_id=${subjectId}&limit=100`, { key: account.key });
    return (listed.body.data as Array<{ type: string }>).map((event) => event.type).reverse();
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /**
   * The wait before try `i`: spread from 0 to `span` over the planned tries, then doubling
   * past it for the tries a slowed machine needs to see a run end first (a positive signal
   * that the race reached both sides, whatever the load).
   */
  const offset = (i: number, tries: number, span: number): number => Math.round(i < tries ? (i / (tries - 1)) * span : span * 2 ** (i - tries + 1));
  const EXTRA_TRIES = 6;

  test('a conversion: each 202 ends cancelled with no output and no conversion.completed; each 409 ended otherwise', { timeout: 300_000 }, async () => {
    const tries = 40;
    const answers = { 202: 0, 409: 0 };
    for (let i = 0; i < tries || ((answers[409] === 0 || answers[202] === 0) && i < tries + EXTRA_TRIES); i++) {
      // A machine so busy that a cancel takes longer than a whole conversion never reaches the early side:
      // its extra tries cancel at once a conversion that takes seconds (a large AVIF), still a WebP's name for the output check.
      const early = i >= tries && answers[202] === 0;
      const { id } = await submit(early ? { output_format: 'webp', width: '6000', height: '4500', fit: 'fill', enlarge: 'true', effort: '6' } : undefined);
      // From at once to well past the typical end: the early offsets land on the end itself (a cancel takes ~60 ms to claim).
      await sleep(early ? 0 : offset(i, tries, typical * 3));
      const cancel = await request(`${kiln.url}/v1/conversions/${id}/cancel`, { method: 'POST', key: account.key });
      assert.ok(cancel.status === 202 || cancel.status === 409, `cancel answered ${cancel.status}: ${JSON.stringify(cancel.body)}`);
      answers[cancel.status]++;
      const ended = await waitForConversion(kiln.url, account.key, id);
      const events = await eventTypes(id);
      const outputStored = (await kiln.blobs.size(conversionOutputKey(account.id, id, 'webp'))) !== undefined;
      if (cancel.status === 202) {
        assert.equal(ended.status, 'cancelled', `try ${i}: a 202 ended ${ended.status}`);
        assert.equal(ended.output, null);
        assert.ok(!outputStored, `try ${i}: a cancelled conversion kept its output`);
        assert.ok(!events.includes('conversion.completed'), `try ${i}: ${events.join(', ')}`);
        assert.equal(events.filter((type) => type === 'conversion.cancelled').length, 1);
      } else {
        assert.equal(cancel.body.code, 'conversion_finished');
        assert.notEqual(ended.status, 'cancelled', `try ${i}: a 409 ended cancelled`);
        assert.equal(cancel.body.conversion_status, ended.status);
        assert.ok(events.includes('conversion.completed') && outputStored, `try ${i}: ${events.join(', ')}`);
        assert.ok(!events.includes('conversion.cancelled'), `try ${i}: ${events.join(', ')}`);
      }
    }
    console.log(`conversion cancels over ${tries} tries, typical conversion ${typical} ms: ${answers[202]} × 202, ${answers[409]} × 409`);
    assert.ok(answers[202] > 0 && answers[409] > 0, 'the offsets reach both sides of the end');
  });

  test('a job: each 202 ends the job cancelled; each 409 is for a job that had ended otherwise', { timeout: 300_000 }, async () => {
    const submitJob = async () => {
      const form = new FormData();
      form.set('output_format', 'webp');
      for (const name of ['a.jpg', 'b.jpg']) form.append('file', new Blob([photo]), name);
      return (await request(`${kiln.url}/v1/jobs`, { method: 'POST', key: account.key, body: form })).body;
    };
    const jobEnded = async (id: string) => {
      let job: any;
      await waitUntil(
        async () => !['queued', 'running'].includes((job = (await request(`${kiln.url}/v1/jobs/${id}`, { key: account.key })).body).status),
        60_000,
        `job ${id} ends`,
      );
      return job;
    };
    // What a job of two files takes now, as the conversions' was measured.
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { id } = await submitJob();
      const answered = Date.now();
      samples.push(Date.parse((await jobEnded(id)).completed_at) - answered);
    }
    const typicalJob = Math.max(20, samples.sort((a, b) => a - b)[1]!);
    const tries = 16;
    const answers = { 202: 0, 409: 0 };
    for (let i = 0; i < tries || (answers[409] === 0 && i < tries + EXTRA_TRIES); i++) {
      const job = await submitJob();
      await sleep(offset(i, tries, typicalJob * 2));
      const cancel = await request(`${kiln.url}/v1/jobs/${job.id}/cancel`, { method: 'POST', key: account.key });
      assert.ok(cancel.status === 202 || cancel.status === 409, `cancel answered ${cancel.status}: ${JSON.stringify(cancel.body)}`);
      answers[cancel.status]++;
      const ended = await jobEnded(job.id);
      const events = await eventTypes(job.id);
      if (cancel.status === 202) {
        assert.equal(ended.status, 'cancelled', `try ${i}: a 202 ended the job ${ended.status}`);
        assert.deepEqual(
          events.filter((type) => type !== 'job.progress'),
          ['job.started', 'job.cancelled'],
        );
      } else {
        assert.equal(cancel.body.code, 'job_finished');
        assert.notEqual(ended.status, 'cancelled', `try ${i}: a 409 ended cancelled`);
        assert.ok(!events.includes('job.cancelled'), `try ${i}: ${events.join(', ')}`);
      }
    }
    console.log(`job cancels over ${tries} tries, typical job ${typicalJob} ms: ${answers[202]} × 202, ${answers[409]} × 409`);
    assert.ok(answers[202] > 0 && answers[409] > 0, 'the offsets reach both sides of the end');
  });
});
