import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { runCli } from '../../sdk/src/cli/main.js';
import { startTestKiln, type TestKiln } from '../support/kiln.js';
import { createAccount, jsonRequest } from '../support/http.js';
import { magickFormat } from '../support/magick.js';
import { startReceiver } from '../support/receiver.js';
import { startPythonReceiver } from '../support/python-receivers.js';
import { tempDir } from '../support/temp.js';
import { projectRoot } from '../../src/paths.js';
import { waitUntil } from '../support/processes.js';
import { kilnCommand as kilnCommandLine, runKiln, startKiln } from '../support/cli.js';
import { isAvifContainer, makeImage } from '../support/images.js';

const run = promisify(execFile);
const PHOTOS = '/usr/share/backgrounds/mate/nature';

describe('the kiln command line against a real Kiln', () => {
  let kiln: TestKiln;
  let account: { id: string; key: string; webhookSecret: string };
  const dir = tempDir('cli');
  /** Each test's own config directory, logged in to this Kiln. */
  let env: Record<string, string>;

  before(async () => {
    // Loopback receivers and origins are allowed; a delivery that fails is not retried (recover is).
    kiln = await startTestKiln('embedded', { KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8', KILN_WEBHOOK_RETRY_SCHEDULE: '' });
    account = await createAccount(kiln.url, kiln.adminToken, 'cli');
    env = { KILN_CONFIG_DIR: path.join(dir.path, 'config'), KILN_URL: '', KILN_API_KEY: '', KILN_PROFILE: '' };
    const login = await runKiln(['login', '--url', kiln.url, '--key', '-'], { env, stdin: `${account.key}\n` });
    assert.equal(login.code, 0, login.stderr);
  });
  after(async () => {
    await kiln?.stop();
    dir.remove();
  });

  test('login keeps the profile readable by its owner alone; a key that does not work is not saved; the environment overrides', async () => {
    const file = path.join(dir.path, 'config', 'profiles.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).profiles.default.api_key, account.key);

    const refused = await runKiln(['login', '--profile', 'bad', '--url', kiln.url, '--key', 'kiln_not_a_real_key'], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /invalid_api_key|unauthorized/);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).profiles.bad, undefined);

    const other = await createAccount(kiln.url, kiln.adminToken, 'cli-other');
    const saved = await runKiln(['login', '--profile', 'other', '--url', kiln.url, '--key', other.key, '--json'], { env });
    assert.equal(saved.code, 0, saved.stderr);
    const profiles = JSON.parse((await runKiln(['profiles', '--json'], { env })).stdout);
    assert.deepEqual(
      profiles.map((p: { name: string; current: boolean }) => [p.name, p.current]),
      [
        ['default', true],
        ['other', false],
      ],
    );
    // The same command, three ways to choose the account: the current profile, --profile, and KILN_API_KEY.
    const usageOf = async (args: string[], extra: Record<string, string> = {}) =>
      JSON.parse((await runKiln(['keys', 'list', '--json', ...args], { env: { ...env, ...extra } })).stdout).map((k: { id: string }) => k.id);
    const mine = await usageOf([]);
    const theirs = await usageOf(['--profile', 'other']);
    assert.notDeepEqual(mine, theirs);
    assert.deepEqual(await usageOf(['--profile', 'other'], { KILN_API_KEY: account.key }), mine);

    const loggedOut = await runKiln(['keys', 'list'], { env: { ...env, KILN_CONFIG_DIR: path.join(dir.path, 'nowhere') } });
    assert.equal(loggedOut.code, 2);
    assert.match(loggedOut.stderr, /not logged in: run kiln login/);
  });

  test('convert one file: the output is written, and ImageMagick reads what it says', async () => {
    const out = path.join(dir.path, 'one');
    const result = await runKiln(['convert', path.join(PHOTOS, 'Aqua.jpg'), '--to', 'webp', '--width', '320', '--out', out], { env });
    assert.equal(result.code, 0, result.stderr);
    // On a pipe: a line per event, in order (none when it ended before the wait began), then what was written.
    const events = result.stdout.split('\n').flatMap((line) => /^\d\d:\d\d:\d\d {2}(?!accepted)(\S+)/.exec(line)?.[1] ?? []);
    assert.ok(events.length === 0 || events.join() === 'file.uploaded,conversion.started,conversion.completed', result.stdout);
    assert.match(result.stdout, /succeeded: 1 of 1 succeeded/);
    assert.equal(await magickFormat(readFileSync(path.join(out, 'Aqua.webp')), '%m %w'), 'WEBP 320');
  });

  test('convert a directory of photographs: one job, every output decoded by ImageMagick; --archive writes its zip', async () => {
    const photos = path.join(dir.path, 'photos');
    mkdirSync(photos);
    const names = ['Aqua.jpg', 'FreshFlower.jpg', 'Garden.jpg', 'GreenMeadow.jpg'];
    for (const name of names) copyFileSync(path.join(PHOTOS, name), path.join(photos, name));
    writeFileSync(path.join(photos, 'notes.txt'), 'not an image, and not picked up from a directory');
    const out = path.join(dir.path, 'job-out');
    const result = await runKiln(['convert', photos, '--to', 'avif', '--width', '200', '--quality', '50', '--out', out, '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    const ended = JSON.parse(result.stdout);
    assert.match(ended.id, /^job_/);
    assert.equal(ended.counts.succeeded, 4);
    assert.deepEqual(readdirSync(out).sort(), names.map((n) => n.replace('.jpg', '.avif')).sort());
    for (const file of ended.written as string[]) {
      // This ImageMagick names the AVIF/HEIC family HEIC; the brand says which.
      assert.equal(await magickFormat(readFileSync(file), '%m %w'), 'HEIC 200');
      assert.ok(isAvifContainer(readFileSync(file)), `${file} is AVIF`);
    }

    const zipped = await runKiln(['convert', `${photos}/G*.jpg`, '--to', 'png', '--width', '40', '--archive', '--out', out], { env });
    assert.equal(zipped.code, 0, zipped.stderr);
    const zip = readdirSync(out).find((name) => name.endsWith('.zip'))!;
    const { stdout } = await run('python3', [
      '-c',
      'import sys, zipfile; print("\\n".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))',
      path.join(out, zip),
    ]);
    assert.deepEqual(stdout.trim().split('\n'), ['Garden.png', 'GreenMeadow.png']);
  });

  test('convert a URL: Kiln fetches it', async () => {
    const photo = readFileSync(path.join(PHOTOS, 'FreshFlower.jpg'));
    const origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    try {
      const out = path.join(dir.path, 'url');
      const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/flower.jpg`;
      const result = await runKiln(['convert', url, '--to', 'png', '--width', '64', '--out', out], { env });
      assert.equal(result.code, 0, result.stderr);
      const [written] = readdirSync(out);
      assert.equal(await magickFormat(readFileSync(path.join(out, written!)), '%m %w'), 'PNG 64');
    } finally {
      origin.close();
    }
  });

  test('exit codes: 1 when a file fails (listed with its code), 2 for usage errors and input Kiln calls malformed', async () => {
    const broken = path.join(dir.path, 'broken.jpg');
    writeFileSync(broken, readFileSync(path.join(PHOTOS, 'Aqua.jpg')).subarray(0, 3000));
    const failed = await runKiln(['convert', broken, path.join(PHOTOS, 'FreshFlower.jpg'), '--to', 'png', '--width', '30', '--out', path.join(dir.path, 'f')], {
      env,
    });
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /failed: 1 of 2 succeeded/);
    assert.match(failed.stdout, /✗ broken\.jpg \(cnv_\w+\) failed: unsupported_input/);

    const usage = [
      [['convert', path.join(PHOTOS, 'Aqua.jpg'), '--to', 'png', '--quality', '900'], /invalid_options: quality/],
      [['convert', path.join(dir.path, 'missing.jpg'), '--to', 'png'], /no such file or directory/],
      [['convert', path.join(PHOTOS, 'Aqua.jpg')], /--to FORMAT/],
      [['endpoints', 'create'], /--url is required/],
      [['conversions', 'show'], /missing id/],
      [['recover', '--endpoint', 'ep_x', '--since', 'last tuesday'], /--since must be ISO-8601/],
      [['frobnicate'], /unknown command frobnicate/],
      [['conversions', 'list', '--status', 'sideways'], /invalid_parameter/],
    ] as const;
    for (const [args, message] of usage) {
      const result = await runKiln(args, { env });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    const notFound = await runKiln(['conversions', 'show', 'cnv_00000000000000000000000'], { env });
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /conversion_not_found/);
  });

  test('Ctrl-C stops the wait, not the job: it says how to follow it again, and jobs wait does', async () => {
    const photos = path.join(dir.path, 'interrupted');
    mkdirSync(photos);
    for (const name of ['Blinds.jpg', 'Dune.jpg', 'Storm.jpg']) copyFileSync(path.join(PHOTOS, name), path.join(photos, name));
    const convert = startKiln(['convert', photos, '--to', 'avif', '--width', '1200', '--concurrency', '1', '--out', path.join(dir.path, 'interrupted-out')], {
      env,
    });
    await waitUntil(() => /accepted {2}job_\w+/.test(convert.stdout()), 60_000, 'the job to be accepted');
    const jobId = /accepted {2}(job_\w+)/.exec(convert.stdout())![1]!;
    convert.child.kill('SIGINT');
    assert.equal(await convert.ended, 130, convert.stderr());
    assert.match(convert.stderr(), new RegExp(`stopped waiting; ${jobId} goes on in Kiln: kiln jobs wait ${jobId} follows it again`));
    const waited = await runKiln(['jobs', 'wait', jobId, '--out', path.join(dir.path, 'interrupted-out')], { env });
    assert.equal(waited.code, 0, waited.stdout + waited.stderr);
    assert.match(waited.stdout, new RegExp(`${jobId} succeeded: 3 of 3 succeeded`));
    assert.equal(readdirSync(path.join(dir.path, 'interrupted-out')).length, 3);
  });

  test('recover --dry-run counts what a receiver that was down missed and sends nothing; recover sends it', async () => {
    let up = false;
    const receiver = await startReceiver([], { decide: () => (up ? { status: 204 } : { status: 503 }) });
    try {
      const created = await runKiln(['endpoints', 'create', '--url', receiver.url, '--event-types', 'webhook.test', '--json'], { env });
      assert.equal(created.code, 0, created.stderr);
      const endpoint = JSON.parse(created.stdout);
      // Three test events while it is down; with no retries in the schedule, each delivery fails at once.
      for (let i = 0; i < 3; i++) assert.equal((await runKiln(['endpoints', 'test', endpoint.id], { env })).code, 0);
      const failedCount = async () =>
        JSON.parse((await runKiln(['deliveries', 'list', '--endpoint-id', endpoint.id, '--status', 'failed', '--json'], { env })).stdout).length;
      await waitUntil(async () => (await failedCount()) === 3, 30_000, 'three failed deliveries');
      const seenWhileDown = receiver.requests.length;
      up = true;

      const dry = await runKiln(['recover', '--endpoint', endpoint.id, '--since', '1h', '--dry-run'], { env });
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^would send 3 deliveries again \(dry run: none sent\)/);
      assert.equal(await failedCount(), 3, 'nothing was sent');
      assert.equal(receiver.requests.length, seenWhileDown);

      const recovered = await runKiln(['recover', '--endpoint', endpoint.id, '--since', '1h', '--json'], { env });
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.equal(JSON.parse(recovered.stdout).redelivered, 3);
      await waitUntil(async () => (await failedCount()) === 0, 30_000, 'the recovered deliveries to succeed');
      assert.equal(receiver.requests.length, seenWhileDown + 3);
      // The delivery log shows it: the failed attempt, then the manual one that succeeded.
      const [one] = JSON.parse((await runKiln(['deliveries', 'list', '--endpoint-id', endpoint.id, '--limit', '1', '--json'], { env })).stdout);
      const shown = JSON.parse((await runKiln(['deliveries', 'show', one.id, '--json'], { env })).stdout);
      assert.deepEqual(
        shown.attempts.map((a: { trigger: string; status_code: number }) => [a.trigger, a.status_code]),
        [
          ['scheduled', 503],
          ['manual', 204],
        ],
      );
      assert.equal((await runKiln(['endpoints', 'delete', endpoint.id], { env })).code, 0);
    } finally {
      await receiver.close();
    }
  });

  test('listen forwards each event to a receiver that verifies with the standardwebhooks package', async () => {
    const { secret } = (await jsonRequest(`${kiln.url}/v1/webhooks/secret`, account.key, 'GET')).body;
    const receiver = await startPythonReceiver('flask', 'standardwebhooks_receiver', { cwd: dir.path, env: { WEBHOOK_SECRET: secret } });
    const listen = startKiln(['listen', `${receiver.url}/hooks`, '--events', 'file.uploaded,conversion.completed', '--max-events', '2'], { env });
    try {
      // Said once its stream is open: every event from then on reaches it.
      await waitUntil(() => listen.stderr().includes('forwarding'), 30_000, 'listen to open its stream');
      const converted = await runKiln(['convert', path.join(PHOTOS, 'Aqua.jpg'), '--to', 'png', '--width', '16', '--out', path.join(dir.path, 'l')], { env });
      assert.equal(converted.code, 0, converted.stderr);
      assert.equal(await listen.ended, 0, listen.stderr());
      const verified = receiver
        .output()
        .split('\n')
        .filter((line) => line.startsWith('verified') || line.startsWith('refused'));
      assert.deepEqual(
        verified.map((line) => line.split(' ').slice(0, 1).concat(line.split(' ').slice(2)).join(' ')),
        ['verified file.uploaded', 'verified conversion.completed'],
        receiver.output(),
      );
      assert.match(listen.stdout(), /file\.uploaded\s+evt_\w+\s+→ 204/);
      assert.match(listen.stdout(), /conversion\.completed\s+evt_\w+\s+→ 204/);
    } finally {
      listen.child.kill();
      await receiver.stop();
    }
  });

  test('verify: a delivery Kiln sent holds; a tampered body or a wrong secret says why not', async () => {
    const receiver = await startReceiver([{ status: 204 }]);
    try {
      const endpoint = JSON.parse((await runKiln(['endpoints', 'create', '--url', receiver.url, '--event-types', 'webhook.test', '--json'], { env })).stdout);
      await runKiln(['endpoints', 'test', endpoint.id], { env });
      const [delivery] = await receiver.waitForRequests(1);
      const body = path.join(dir.path, 'body.json');
      const headers = path.join(dir.path, 'headers.txt');
      writeFileSync(body, delivery!.body);
      writeFileSync(
        headers,
        ['HTTP/1.1 POST', ...['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => `${name}: ${String(delivery!.headers[name])}`)].join('\n'),
      );
      const good = await runKiln(['verify', body, '--headers', headers, '--secret', endpoint.secret], { env });
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /^valid: webhook\.test evt_/);

      writeFileSync(body, delivery!.body.replace('webhook.test', 'webhook.tost'));
      const tampered = await runKiln(['verify', body, '--headers', headers, '--secret', endpoint.secret, '--json'], { env });
      assert.equal(tampered.code, 1);
      assert.equal(JSON.parse(tampered.stdout).reason, 'no_matching_signature');

      // From stdin, with the headers given one by one, and the secret of another endpoint.
      const byFlags = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].flatMap((name) => ['--header', `${name}: ${String(delivery!.headers[name])}`]);
      const wrong = await runKiln(['verify', '-', ...byFlags, '--secret', account.webhookSecret], { env, stdin: delivery!.body });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stdout, /^invalid: no_matching_signature/);
      const right = await runKiln(['verify', '-', ...byFlags, '--secret', endpoint.secret], { env, stdin: delivery!.body });
      assert.equal(right.code, 0, right.stdout);
    } finally {
      await receiver.close();
    }
  });

  test('events tail, and the other resources: keys, presets, assets, jobs, events', async () => {
    const tail = startKiln(['events', 'tail', '--type', 'conversion.completed', '--max-events', '1', '--json'], { env });
    await waitUntil(() => tail.stderr().includes('tailing'), 30_000, 'events tail to open its stream');
    assert.equal((await runKiln(['convert', path.join(PHOTOS, 'Aqua.jpg'), '--to', 'png', '--width', '8', '--no-wait'], { env })).code, 0);
    assert.equal(await tail.ended, 0, tail.stderr());
    assert.equal(JSON.parse(tail.stdout().trim().split('\n')[0]!).type, 'conversion.completed');

    const key = JSON.parse((await runKiln(['keys', 'create', '--name', 'ci', '--json'], { env })).stdout);
    assert.match(key.key, /^kiln_/);
    assert.ok(JSON.parse((await runKiln(['keys', 'list', '--json'], { env })).stdout).some((k: { id: string }) => k.id === key.id));
    assert.equal((await runKiln(['keys', 'revoke', key.id], { env })).code, 0);
    assert.equal((await runKiln(['keys', 'list'], { env: { ...env, KILN_API_KEY: key.key } })).code, 1, 'a revoked key is refused');

    // A sign-in link: printed for a person, whose browser trades its token for a session key once.
    const link = await runKiln(['sign-in-link', '--expires-in', '5'], { env });
    assert.equal(link.code, 0, link.stderr);
    const [url, until] = link.stdout.trim().split('\n');
    assert.match(url!, /\/app\/sign-in#token=kiln_signin_\w+$/);
    const expiresAt = Date.parse(/until (\S+)\)$/.exec(until!)![1]!);
    assert.ok(Math.abs(expiresAt - Date.now() - 5 * 60_000) < 10_000, until);
    const token = new URL(url!).hash.slice('#token='.length);
    const signIn = () =>
      fetch(new URL('/v1/sign-in', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal((await signIn()).status, 201);
    assert.equal((await signIn()).status, 410, 'once');
    assert.equal((await runKiln(['sign-in-link', '--expires-in', '0'], { env })).code, 2);

    assert.equal((await runKiln(['presets', 'set', 'thumbs', '--to', 'webp', '--width', '48'], { env })).code, 0);
    assert.equal((await runKiln(['presets', 'set', 'thumbs', '--to', 'webp', '--width', '24'], { env })).code, 0, 'set again replaces it');
    assert.equal(Number(JSON.parse((await runKiln(['presets', 'show', 'thumbs', '--json'], { env })).stdout).options.width), 24);
    const viaPreset = await runKiln(['convert', path.join(PHOTOS, 'Aqua.jpg'), '--preset', 'thumbs', '--out', path.join(dir.path, 'p'), '--json'], { env });
    assert.equal(viaPreset.code, 0, viaPreset.stderr);
    assert.equal(await magickFormat(readFileSync(JSON.parse(viaPreset.stdout).written[0]), '%m %w'), 'WEBP 24');
    assert.equal((await runKiln(['presets', 'delete', 'thumbs'], { env })).code, 0);

    const logo = path.join(dir.path, 'logo.jpg');
    writeFileSync(logo, await makeImage(8, 8));
    const asset = JSON.parse((await runKiln(['assets', 'upload', logo, '--json'], { env })).stdout);
    assert.equal(asset.width, 8);
    assert.match((await runKiln(['assets', 'list'], { env })).stdout, new RegExp(asset.id));
    assert.equal((await runKiln(['assets', 'delete', asset.id], { env })).code, 0);

    const jobs = JSON.parse((await runKiln(['jobs', 'list', '--limit', '1', '--json'], { env })).stdout);
    const job = JSON.parse((await runKiln(['jobs', 'show', jobs[0].id, '--json'], { env })).stdout);
    assert.equal(job.id, jobs[0].id);
    const waited = await runKiln(['jobs', 'wait', job.id, '--json'], { env });
    assert.equal(waited.code, job.status === 'succeeded' ? 0 : 1);
    const events = await runKiln(['events', 'list', '--type', 'job.completed', '--limit', '2'], { env });
    assert.match(events.stdout, /^ID\s+TYPE\s+TIMESTAMP\n(evt_\w+\s+job\.completed\s+\S+\n?){1,2}$/);
  });

  test('on a terminal (tmux), a bar per file and one for the job, redrawn in place as the job advances', async () => {
    const photos = path.join(dir.path, 'tty-photos');
    mkdirSync(photos);
    const names = ['Aqua.jpg', 'Blinds.jpg', 'Dune.jpg', 'LadyBird.jpg', 'Storm.jpg'];
    for (const name of names) copyFileSync(path.join(PHOTOS, name), path.join(photos, name));
    const socket = `kiln-cli-test-${process.pid}`;
    const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args], { env: { ...process.env, ...env } });
    // One file at a time (about a second each, as AVIF), so the screen shows each step.
    const command = [...kilnCommandLine(), 'convert', photos, '--to', 'avif', '--width', '1200', '--concurrency', '1', '--out', path.join(dir.path, 'tty-out')]
      .map((word) => `'${word}'`)
      .join(' ');
    await tmux('new-session', '-d', '-s', 'cli', '-x', '120', '-y', '30', '-c', projectRoot, `${command}; echo "exit $?"; sleep 600`);
    try {
      const screens: string[] = [];
      await waitUntil(
        async () => {
          const { stdout } = await tmux('capture-pane', '-p', '-t', 'cli');
          if (screens.at(-1) !== stdout) screens.push(stdout);
          return /^exit \d+$/m.test(stdout);
        },
        240_000,
        'the conversion to end on screen',
        100,
      );
      const last = screens.at(-1)!;
      assert.match(last, /^exit 0$/m, last);
      // Drawn in place: every screen holds one job bar, never a trail of them.
      for (const screen of screens) assert.ok((screen.match(/^ {2}job /gm) ?? []).length <= 1, screen);
      const doneCounts = screens.flatMap((screen) => /^ {2}job\s+[█░]+\s+(\d+)\/5 done/m.exec(screen)?.[1] ?? []).map(Number);
      assert.ok(
        doneCounts.some((n) => n > 0 && n < 5),
        `the screen showed the job part way: ${doneCounts.join(', ')}`,
      );
      assert.equal(doneCounts.at(-1), 5);
      assert.deepEqual(
        [...doneCounts].sort((a, b) => a - b),
        doneCounts,
        'it only moves forward',
      );
      // A row per file, each ticked when done.
      for (const name of names) assert.match(last, new RegExp(`^✓ ${name.replace('.', '\\.')}\\s+█{20}\\s+succeeded`, 'm'));
    } finally {
      await tmux('kill-server').catch(() => undefined);
    }
  });

  test('--help for every command, with examples; bash completion completes commands and options', async () => {
    const help = await runKiln(['--help'], { env });
    assert.equal(help.code, 0);
    const commands = help.stdout.split('\n').flatMap((line) => /^ {2}([a-z-]+(?: [a-z-]+)?) {2,}/.exec(line)?.[1] ?? []);
    for (const command of ['convert', 'listen', 'verify', 'recover', 'endpoints create', 'events tail', 'dev']) assert.ok(commands.includes(command), command);
    // Each command's help, read in this process (the same code the binary runs; a process each would take a minute).
    for (const command of commands.filter((c) => !['dev', 'api', 'worker', 'migrate', 'keys create'].includes(c))) {
      let stdout = '';
      const io = {
        stdout: new Writable({ write: (chunk: Buffer, _encoding, done) => ((stdout += chunk.toString()), done()) }),
        stderr: process.stderr,
        stdin: process.stdin,
        env,
      };
      assert.equal(await runCli([...command.split(' '), '--help'], io), 0, command);
      assert.match(stdout, new RegExp(`Usage: kiln ${command}`), command);
      assert.match(stdout, /Examples:\n {2}kiln /, command);
    }

    const script = path.join(dir.path, 'kiln-completion.bash');
    writeFileSync(script, (await runKiln(['completion', 'bash'], { env })).stdout);
    const complete = async (...words: string[]) => {
      const { stdout } = await run('bash', [
        '-c',
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kiln; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'complete',
        script,
        'kiln',
        ...words,
      ]);
      return stdout.trim().split('\n').filter(Boolean);
    };
    assert.deepEqual(await complete('endp'), ['endpoints']);
    assert.deepEqual(await complete('endpoints', 'r'), ['rotate-secret']);
    assert.deepEqual(await complete('recover', '--d'), ['--dry-run']);
    assert.deepEqual(await complete('convert', 'photo.jpg', '--ar'), ['--archive']);
    assert.deepEqual(await complete('convert', ''), [], 'file names are the shell’s to complete');
    // zsh runs the same function through bashcompinit.
    assert.match((await runKiln(['completion', 'zsh'], { env })).stdout, /^autoload -U \+X bashcompinit && bashcompinit\n# kiln completion/);
  });
});
