import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { startTopology, type Topology } from '../../tools/topology/topology.js';
import { ensureNamespace, TEMPORAL_SERVER_ENVIRONMENT } from '../../tools/topology/temporal.js';
import { SEARCH_ATTRIBUTES } from '../../src/search-attributes.js';
import { TASK_QUEUES } from '../../src/names.js';
import { assertProblem, createAccount, request, uploadForm, waitForConversion } from '../support/http.js';
import { identify } from '../support/images.js';
import { startReceiver, verifyDelivery, type Receiver } from '../support/receiver.js';
import { waitUntil } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { filesTakenByChunks } from '../support/temporal.js';

/**
 * Kiln in its production shape, started by the test itself with the topology command's
 * code: Debian's Postgres, the real Temporal server (built from the Go module proxy) and its
 * Web UI, versitygw for S3, one `kiln api` and two `kiln worker` processes, each a process
 * of its own. End to end on it, then one fault at a time during a batch of real photographs
 * with webhooks on, each ending with every file converted exactly once and every delivery
 * made.
 */

/** Debian's chromium (installed by scripts/install-system-deps.sh), as the docs test uses it. */
const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';

const PHOTOS = readdirSync('/usr/share/backgrounds/mate/nature')
  .filter((name) => name.endsWith('.jpg'))
  .sort()
  .map((name) => path.join('/usr/share/backgrounds/mate/nature', name));

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

/** The Prometheus samples of `name` in a scrape, by their label text. */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) found.set(match[1] ?? '', Number(match[2]));
  }
  return found;
}

const sum = (values: Map<string, number>): number => [...values.values()].reduce((a, b) => a + b, 0);

describe('the production topology: real Temporal server, Postgres, S3, an API and two workers', () => {
  const dir = tempDir('topology');
  let topology: Topology;
  let database: DatabaseHandle;
  let receiver: Receiver;
  let account: { id: string; key: string; webhookSecret: string };
  let endpointSecret: string;

  before(async () => {
    // Postgres runs as its own user, which must reach its directory under this one.
    chmodSync(dir.path, 0o755);
    topology = await startTopology({
      dir: dir.path,
      workers: 2,
      ports: 'free',
      kilnEnv: {
        // One converter per worker: each batch spreads over both workers and lasts long enough for a fault to land in it.
        KILN_CONVERT_CONCURRENCY: '1',
        // A lost worker's conversion is handed to the other after 5 s without a heartbeat.
        KILN_CONVERT_HEARTBEAT_TIMEOUT_SECONDS: '5',
        // The API's window per job: two per converter of the two workers.
        KILN_JOB_CONCURRENCY: '4',
        KILN_LOG_LEVEL: 'info',
      },
      log: () => undefined,
    });
    database = await openDatabase({ databaseUrl: topology.databaseUrl, dataDir: dir.path });
    receiver = await startReceiver();
    account = await createAccount(topology.apiUrl, topology.adminToken, 'topology');
    const endpoint = await request(`${topology.apiUrl}/v1/webhooks/endpoints`, {
      method: 'POST',
      key: account.key,
      headers: { 'content-type': 'application/json' },
      // Short waits: a fault may cost an attempt, and the test waits for the retry.
      body: JSON.stringify({ url: receiver.url, retry_schedule: ['2s', '5s', '10s', '20s', '30s'] }),
    });
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
    endpointSecret = endpoint.body.secret;
  });

  after(async () => {
    await database?.close();
    await receiver?.close();
    await topology?.stop();
    dir.remove();
  });

  async function api(pathname: string, init: RequestInit = {}): Promise<any> {
    const response = await request(`${topology.apiUrl}${pathname}`, { key: account.key, ...init });
    assert.ok(response.status < 300, `${pathname}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async function workerMetrics(index: number): Promise<string> {
    return (await fetch(`${topology.workerMetricsUrls[index]}/metrics`)).text();
  }

  async function submitBatch(files: number, offset: number): Promise<string> {
    const form = new FormData();
    form.set('output_format', 'avif');
    form.set('width', '1600');
    form.set('concurrency', '4');
    for (let i = 0; i < files; i++) {
      const photo = PHOTOS[(offset + i) % PHOTOS.length]!;
      form.append('file', new Blob([readFileSync(photo)]), `${i}-${path.basename(photo)}`);
    }
    const accepted = await request(`${topology.apiUrl}/v1/jobs`, { method: 'POST', key: account.key, body: form });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    return accepted.body.id as string;
  }

  /** Every file converted exactly once, one event of each kind, and every delivery of the job's events made and verified. */
  async function assertBatchComplete(jobId: string, files: number): Promise<void> {
    await waitUntil(async () => !['queued', 'running'].includes((await api(`/v1/jobs/${jobId}`)).status), 600_000, `job ${jobId} to end`, 500);
    const job = await api(`/v1/jobs/${jobId}`);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual(job.counts, { total: files, queued: 0, running: 0, succeeded: files, failed: 0, cancelled: 0 });
    const conversions = (await api(`/v1/jobs/${jobId}/conversions?limit=100`)).data as any[];
    assert.deepEqual(
      conversions.map((file) => [file.job_index, file.status, file.output?.format]),
      Array.from({ length: files }, (_, i) => [i, 'succeeded', 'avif']),
    );
    const ids = conversions.map((file) => file.id as string);
    const events = await database.db
      .selectFrom('events')
      .select(['id', 'type', 'subject_id'])
      .where('subject_id', 'in', [jobId, ...ids])
      .execute();
    const count = (type: string) => events.filter((event) => event.type === type).length;
    assert.equal(count('conversion.completed'), files, 'one conversion.completed per file');
    assert.equal(new Set(events.filter((event) => event.type === 'conversion.completed').map((event) => event.subject_id)).size, files);
    assert.equal(count('job.progress'), files, 'one job.progress per file');
    assert.equal(count('job.completed'), 1);
    // Every event's delivery to the endpoint ends delivered, and the receiver holds it, signed.
    await waitUntil(
      async () =>
        (
          await database.db
            .selectFrom('deliveries')
            .select('status')
            .where(
              'event_id',
              'in',
              events.map((event) => event.id),
            )
            .execute()
        ).every((row) => row.status !== 'pending'),
      300_000,
      'every delivery of the batch to finish',
      500,
    );
    const deliveries = await database.db
      .selectFrom('deliveries')
      .select(['event_id', 'status'])
      .where(
        'event_id',
        'in',
        events.map((event) => event.id),
      )
      .execute();
    assert.equal(deliveries.length, events.length, 'a delivery per event');
    assert.deepEqual(
      deliveries.filter((row) => row.status !== 'succeeded'),
      [],
    );
    const received = new Set(receiver.requests.map((request) => (verifyDelivery(request, endpointSecret) as { id: string }).id));
    for (const event of events) assert.ok(received.has(event.id), `the receiver got event ${event.id} (${event.type})`);
    // Each file taken by one chunk of the job's run: a retried activity, never a second conversion.
    const connection = await Connection.connect({ address: topology.temporalAddress });
    try {
      const client = new Client({ connection });
      assert.deepEqual(await filesTakenByChunks(client.workflow.getHandle(`job-${jobId}`)), [...Array(files).keys()]);
    } finally {
      await connection.close();
    }
  }

  /** Submits a batch, lets `fault` strike once a file is done while others are not, and checks nothing was lost. */
  async function batchThrough(fault: () => Promise<void>, files = 8, offset = 0): Promise<void> {
    const jobId = await submitBatch(files, offset);
    await waitUntil(async () => (await api(`/v1/jobs/${jobId}`)).counts.succeeded >= 1, 120_000, 'a first file of the batch', 100);
    const counts = (await api(`/v1/jobs/${jobId}`)).counts;
    assert.ok(counts.succeeded < files, `the fault lands while files remain: ${JSON.stringify(counts)}`);
    await fault();
    await assertBatchComplete(jobId, files);
  }

  test('a conversion, a batch and webhooks end to end on S3, shared by both workers, seen in the Web UI', async () => {
    // A single conversion, its output decoded by ImageMagick.
    const photo = readFileSync(PHOTOS[0]!);
    const created = await request(`${topology.apiUrl}/v1/conversions`, {
      method: 'POST',
      key: account.key,
      body: uploadForm(photo, 'single.jpg', { output_format: 'webp', width: '800' }),
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const done = await waitForConversion(topology.apiUrl, account.key, created.body.id, 120_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const download = await fetch(done.download_url);
    assert.equal(download.status, 200);
    const decoded = await identify(Buffer.from(await download.arrayBuffer()));
    assert.equal(decoded.format, 'webp');
    assert.equal(decoded.width, 800);

    await batchThrough(() => Promise.resolve(), 8);

    // Both workers converted (each counts its own image work), and each shows the Temporal SDK's metrics too.
    for (const index of [0, 1]) {
      const text = await workerMetrics(index);
      assert.ok(sum(samples(text, 'kiln_conversion_duration_seconds_count')) >= 1, `worker ${index + 1} converted: ${text.slice(0, 500)}`);
      assert.ok(samples(text, 'temporal_worker_task_slots_available').size > 0, 'the SDK metrics are exported');
      assert.ok(sum(samples(text, 'kiln_webhook_attempts_total')) >= 0);
    }

    // Nothing on any Kiln process's local disk: uploads, outputs all in the bucket.
    for (const name of ['api', 'worker-1', 'worker-2']) {
      assert.deepEqual(
        filesUnder(path.join(topology.dir, 'kiln', name)).filter((file) => !file.startsWith('spool')),
        [],
        `${name} keeps no file locally`,
      );
    }
    const objects = filesUnder(path.join(topology.dir, 's3', topology.kilnEnv.KILN_S3_BUCKET!));
    assert.ok(objects.length >= 2 * 9, `originals and outputs are in the bucket: ${objects.length}`);

    // The Web UI server answers, for the topology's namespace, with Kiln's runs.
    const ui = await fetch(`${topology.uiUrl}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = "${done.workflow_id}"`)}`);
    assert.equal(ui.status, 200);
    const listed = (await ui.json()) as { executions?: Array<{ execution: { workflowId: string } }> };
    assert.equal(listed.executions?.[0]?.execution.workflowId, done.workflow_id);
    assert.equal((await fetch(`${topology.uiUrl}/`)).status, 200);
    // And in a real browser (Debian's Chromium): the convert queue's page lists both workers by identity, with their build id.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${topology.uiUrl}/namespaces/default/task-queues/${TASK_QUEUES.convert}`);
      await page
        .getByText(/worker-1\/\d+@/)
        .first()
        .waitFor({ timeout: 30_000 });
      await page
        .getByText(/worker-2\/\d+@/)
        .first()
        .waitFor({ timeout: 30_000 });
      await page
        .getByText(/kiln@\d+\.\d+\.\d+\+[0-9a-f]{12}/)
        .first()
        .waitFor({ timeout: 30_000 });
    } finally {
      await browser.close();
    }

    // Each worker polls as itself, with the build id of its workflow code (what the Web UI's Workers tab lists).
    const connection = await Connection.connect({ address: topology.temporalAddress });
    try {
      const pollers = await connection.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: TASK_QUEUES.convert },
        taskQueueType: 2,
      });
      const identities = pollers.pollers.map((poller) => poller.identity ?? '').sort();
      assert.equal(identities.length, 2, JSON.stringify(identities));
      assert.match(identities[0]!, /^worker-1\/\d+@/);
      assert.match(identities[1]!, /^worker-2\/\d+@/);
      for (const poller of pollers.pollers) assert.match(poller.workerVersionCapabilities?.buildId ?? '', /^kiln@\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
    } finally {
      await connection.close();
    }

    // The API is ready; a worker answers its own probes.
    assert.equal((await fetch(`${topology.apiUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${topology.apiUrl}/livez`)).status, 200);
    assert.equal((await fetch(`${topology.workerMetricsUrls[0]}/readyz`)).status, 200);
  });

  test("the Temporal server runs with the topology's environment", () => {
    const environment = readFileSync(`/proc/${topology.temporal.pid}/environ`, 'utf8').split('\0');
    for (const [name, value] of Object.entries(TEMPORAL_SERVER_ENVIRONMENT)) assert.ok(environment.includes(`${name}=${value}`), `${name}=${value}`);
  });

  test("a run carrying Kiln's search attributes starts as soon as a new namespace's registration returns", async () => {
    // The server caches each namespace's search attributes (the dynamic config does not force a
    // read at every use): a registration that returned before the frontend's cache held them
    // would see this first start refused.
    const namespace = 'registered-just-now';
    await ensureNamespace(topology.temporalAddress, namespace, 1, () => undefined);
    const connection = await Connection.connect({ address: topology.temporalAddress });
    try {
      const client = new Client({ connection, namespace });
      const handle = await client.workflow.start('conversionWorkflow', {
        taskQueue: 'nobody-polls-this',
        workflowId: 'carries-every-attribute',
        typedSearchAttributes: Object.values(SEARCH_ATTRIBUTES).map((key) => ({ key, value: 'probe' })),
      });
      await handle.terminate();
    } finally {
      await connection.close();
    }
  });

  test('SIGKILL one of the two workers mid-batch: the other finishes its work', async () => {
    await batchThrough(
      async () => {
        await topology.workers[0]!.kill();
      },
      8,
      2,
    );
    await topology.workers[0]!.start();
  });

  test('a worker asked to stop mid-batch finishes the conversions it is running before it exits', async () => {
    const jobId = await submitBatch(8, 5);
    const worker = topology.workers[1]!;
    // It is asked to stop while its converter is on a file.
    await waitUntil(async () => sum(samples(await workerMetrics(1), 'kiln_conversions_in_progress')) > 0, 60_000, 'worker-2 to be converting', 25);
    await worker.stop();
    assert.equal(worker.exitCode, 0, 'a clean exit');
    await assertBatchComplete(jobId, 8);
    const conversions = (await api(`/v1/jobs/${jobId}/conversions?limit=100`)).data as any[];
    // Nothing it ran was cut off and run again elsewhere: each file was tried once (a try is
    // counted on the file's row as it begins). A chunk lost on its way to the stopping worker
    // (its activity poll is interrupted as it stops, sdk-rust#1080) is retried after a
    // timeout, but no file of it had begun.
    assert.deepEqual(
      conversions.map((file) => [file.job_index, file.attempts]),
      Array.from({ length: 8 }, (_, i) => [i, 1]),
    );
    await worker.start();
  });

  test('with the Temporal server away, a cancel answers 503 temporal_unavailable and changes nothing', async () => {
    await topology.temporal.stop();
    let id: string;
    try {
      // An upload is still taken: it stays queued, and the reconcile schedule starts its run later.
      const accepted = await request(`${topology.apiUrl}/v1/conversions`, {
        method: 'POST',
        key: account.key,
        body: uploadForm(readFileSync(PHOTOS[0]!), 'while-away.jpg', { output_format: 'webp', width: '320' }),
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      id = accepted.body.id;
      const refused = await request(`${topology.apiUrl}/v1/conversions/${id}/cancel`, { method: 'POST', key: account.key });
      assertProblem(refused, 503, 'temporal_unavailable');
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After says when to try again');
      assert.equal((await api(`/v1/conversions/${id}`)).status, 'queued');
    } finally {
      await topology.temporal.start();
    }
    const done = await waitForConversion(topology.apiUrl, account.key, id, 300_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
  });

  test('the Temporal server restarts mid-batch', async () => {
    await batchThrough(() => topology.temporal.restart(), 8, 4);
  });

  test('Postgres restarts mid-batch', async () => {
    await batchThrough(() => topology.postgres.restart(), 8, 6);
  });

  test('the S3 server is away for a minute mid-batch', async () => {
    await batchThrough(
      async () => {
        await topology.s3.stop();
        const away = Date.now();
        // Meanwhile an upload is refused plainly, nothing accepted.
        const refused = await request(`${topology.apiUrl}/v1/conversions`, {
          method: 'POST',
          key: account.key,
          body: uploadForm(readFileSync(PHOTOS[0]!), 'during.jpg', { output_format: 'webp' }),
        });
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(refused.body.code, 'storage_unavailable');
        await new Promise((resolve) => setTimeout(resolve, 60_000));
        assert.ok(Date.now() - away >= 60_000);
        await topology.s3.start();
      },
      8,
      1,
    );
  });

  test('the API restarts mid-batch', async () => {
    await batchThrough(() => topology.api.restart(), 8, 3);
  });
});
