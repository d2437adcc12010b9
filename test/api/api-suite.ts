import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DownloadSigner } from '../../src/signing/download-url.js';
import { conversionWorkflowId } from '../../src/names.js';
import { insertQueuedConversion } from '../../src/db/conversions.js';
import { conversionInputKey } from '../../src/storage/keys.js';
import { newId } from '../../src/ids.js';
import { startTestKiln, type DatabaseKind, type TestKiln } from '../support/kiln.js';
import { runEnding } from '../support/temporal.js';
import { assertProblem, createAccount, jsonRequest, request, uploadForm, waitForConversion } from '../support/http.js';
import { MAGICK_FORMAT, identify, isAvifContainer, makeImage } from '../support/images.js';
import { spoolFiles } from '../support/leftovers.js';
import { magickFormat, magickImage } from '../support/magick.js';
import { cjxl, heifEnc, img2pdf, readableByMagick } from '../support/reference-codecs.js';

/** Written out here rather than imported, so a wrong table in src/ cannot pass its own test. */
const CONTENT_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
  jxl: 'image/jxl',
};

/** The API suite, run once against embedded Postgres and once against a real PostgreSQL server. */
export function apiSuite(kind: DatabaseKind): void {
  describe(`Kiln API on ${kind} Postgres and a Temporal dev server`, () => {
    let kiln: TestKiln;
    let alice: { id: string; key: string };
    let bob: { id: string; key: string };
    let photo: Buffer;

    before(async () => {
      kiln = await startTestKiln(kind);
      alice = await createAccount(kiln.url, kiln.adminToken, 'alice');
      bob = await createAccount(kiln.url, kiln.adminToken, 'bob');
      photo = await makeImage(1200, 800);
    });
    after(async () => kiln?.stop());

    const submit = (key: string, fields: Record<string, string>, file = photo, filename = 'photo.jpg') =>
      request(`${kiln.url}/v1/conversions`, { method: 'POST', key, body: uploadForm(file, filename, fields) });

    const conversionCount = async () =>
      Number(
        (
          await kiln.database.db
            .selectFrom('conversions')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('GET /healthz reports Postgres and Temporal', async () => {
      const response = await request(`${kiln.url}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, { status: 'ok', postgres: { ok: true }, temporal: { ok: true } });
    });

    test('accounts need the admin token and answer one kiln_ key', async () => {
      const body = JSON.stringify({ name: 'carol' });
      const headers = { 'content-type': 'application/json' };
      assertProblem(await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body }), 401, 'unauthorized');
      assertProblem(await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body, key: 'wrong' }), 401, 'invalid_admin_token');
      assertProblem(
        await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body: '{"name":""}', key: kiln.adminToken }),
        400,
        'invalid_body',
      );
      assertProblem(await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body: '{nope', key: kiln.adminToken }), 400, 'invalid_json');
      const created = await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body, key: kiln.adminToken });
      assert.equal(created.status, 201);
      assert.match(created.body.api_key.key, /^kiln_[0-9a-z]{40}$/);
      const stored = await kiln.database.db.selectFrom('api_keys').select('key_hash').where('account_id', '=', created.body.id).execute();
      assert.equal(stored.length, 1);
      assert.notEqual(stored[0]!.key_hash, created.body.api_key.key, 'the key is stored hashed');
      assertProblem(await request(`${kiln.url}/v1/admin/accounts`, { method: 'POST', headers, body, key: kiln.adminToken }), 409, 'account_exists');
    });

    test('every /v1 route needs a valid API key', async () => {
      assertProblem(await request(`${kiln.url}/v1/conversions`), 401, 'unauthorized');
      assertProblem(await request(`${kiln.url}/v1/conversions`, { key: 'kiln_notakey' }), 401, 'invalid_api_key');
      assertProblem(await request(`${kiln.url}/v1/conversions/cnv_x`, { key: kiln.adminToken }), 401, 'invalid_api_key');
    });

    test('converts to every output format; outputs decode (ImageMagick) as the requested format and size', async () => {
      const formats = Object.keys(CONTENT_TYPES);
      const accepted = await Promise.all(
        formats.map((format) => submit(alice.key, { output_format: format, width: '300', height: '300', fit: 'inside', quality: '70' })),
      );
      for (const response of accepted) {
        assert.equal(response.status, 202, JSON.stringify(response.body));
        assert.equal(response.body.status, 'queued');
        assert.match(response.body.id, /^cnv_/);
        assert.equal(response.headers.get('location'), `/v1/conversions/${response.body.id}`);
        assert.equal(response.body.workflow_id, conversionWorkflowId(response.body.id));
      }
      for (const [i, format] of formats.entries()) {
        const done = await waitForConversion(kiln.url, alice.key, accepted[i]!.body.id);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.deepEqual(done.input, {
          filename: 'photo.jpg',
          bytes: photo.length,
          content_type: 'application/octet-stream',
          format: 'jpeg',
          width: 1200,
          height: 800,
        });
        assert.equal(done.output.format, format);
        assert.equal(done.output.width, 300);
        assert.equal(done.output.height, 200);
        assert.match(done.output.filename, /^photo\./);
        assert.ok(Date.parse(done.download_expires_at) - Date.now() > 3500 * 1000, 'links live about an hour by default');

        const download = await fetch(done.download_url);
        assert.equal(download.status, 200);
        assert.equal(download.headers.get('content-type'), CONTENT_TYPES[format]);
        assert.equal(download.headers.get('x-content-type-options'), 'nosniff', 'a browser never takes the bytes for another type');
        const bytes = Buffer.from(await download.arrayBuffer());
        assert.equal(bytes.length, done.output.bytes);
        assert.deepEqual(await identify(await readableByMagick(bytes)), { format: MAGICK_FORMAT[format], width: 300, height: 200 });
        if (format === 'avif') assert.ok(isAvifContainer(bytes), 'AVIF brand, not HEIC');
      }
    });

    test('accepts the raw file as the body with options in the query', async () => {
      const png = await makeImage(64, 48, 'png');
      const response = await request(`${kiln.url}/v1/conversions?output_format=jpeg&width=32&filename=${encodeURIComponent('tiny image.png')}`, {
        method: 'POST',
        key: alice.key,
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      assert.equal(response.status, 202, JSON.stringify(response.body));
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.input.content_type, 'image/png');
      assert.equal(done.output.filename, 'tiny image.jpg');
      const bytes = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      assert.deepEqual(await identify(bytes), { format: 'jpeg', width: 32, height: 24 });
    });

    test('invalid options answer 400 invalid_options and store nothing', async () => {
      const before = await conversionCount();
      const cases: Array<[Record<string, string>, string]> = [
        [{ output_format: 'bmp' }, 'output_format'],
        [{}, 'output_format'],
        [{ output_format: 'png', quality: '0' }, 'quality'],
        [{ output_format: 'png', quality: '101' }, 'quality'],
        [{ output_format: 'png', quality: 'high' }, 'quality'],
        [{ output_format: 'png', width: '-5' }, 'width'],
        [{ output_format: 'png', width: '99999' }, 'width'],
        [{ output_format: 'png', height: '1.5' }, 'height'],
        [{ output_format: 'png', fit: 'stretch' }, 'fit'],
        [{ output_format: 'png', colour: 'red' }, 'colour'],
      ];
      for (const [fields, field] of cases) {
        const response = await submit(alice.key, fields);
        assertProblem(response, 400, 'invalid_options');
        assert.ok(
          response.body.errors.some((e: { field: string }) => e.field === field),
          `${JSON.stringify(fields)} names ${field}: ${JSON.stringify(response.body)}`,
        );
      }
      const raw = await request(`${kiln.url}/v1/conversions?output_format=heic`, { method: 'POST', key: alice.key, body: photo });
      assertProblem(raw, 400, 'invalid_options');
      assert.equal(await conversionCount(), before);
      assert.deepEqual(spoolFiles(kiln), [], 'rejected uploads leave no spooled file');
    });

    test('operations through the API: crop, rotate, grayscale and no upscaling, stored with the conversion and decoded by ImageMagick', async () => {
      const response = await submit(alice.key, { output_format: 'png', crop: '100,100,600,400', rotate: '90', grayscale: 'true', width: '3000' });
      assert.equal(response.status, 202, JSON.stringify(response.body));
      assert.deepEqual(response.body.options, {
        output_format: 'png',
        crop: { left: 100, top: 100, width: 600, height: 400 },
        rotate: 90,
        grayscale: true,
        width: 3000,
      });
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      // 600×400 cropped, never enlarged to 3000, then turned a quarter.
      assert.deepEqual(await identify(output), { format: 'png', width: 400, height: 600 });
      assert.equal(await magickFormat(output, '%[colorspace]'), 'Gray');
      // An animation keeps its frames, and the conversion says how many.
      const gif = await magickImage(['-delay', '10', '-size', '40x30', 'xc:red', 'xc:lime', '-loop', '0', 'gif:-']);
      const animated = await submit(alice.key, { output_format: 'webp', width: '20' }, gif, 'blink.gif');
      const ended = await waitForConversion(kiln.url, alice.key, animated.body.id);
      assert.deepEqual(ended.output, { filename: 'blink.webp', format: 'webp', bytes: ended.output.bytes, width: 20, height: 15, frames: 2 });
      for (const [fields, field] of [
        [{ output_format: 'png', lossless: 'true' }, 'lossless'],
        [{ output_format: 'jpeg', crop: '0,0,0,10' }, 'crop'],
        [{ output_format: 'webp', position: 'entropy' }, 'position'],
      ] as const) {
        const refused = await submit(alice.key, fields);
        assertProblem(refused, 400, 'invalid_options');
        assert.equal(refused.body.errors[0].field, field);
      }
    });

    test('presets: kept per account, used as preset=<name> on conversions and job files, overridden field by field', async () => {
      const api = (urlPath: string, method = 'GET', body?: unknown) => jsonRequest(`${kiln.url}${urlPath}`, alice.key, method, body);
      const avatar = await api('/v1/presets', 'POST', { name: 'avatar', options: { output_format: 'webp', width: 64, height: 64, fit: 'cover', quality: 70 } });
      assert.equal(avatar.status, 201, JSON.stringify(avatar.body));
      assert.deepEqual(avatar.body.options, { output_format: 'webp', width: '64', height: '64', fit: 'cover', quality: '70' });
      assertProblem(await api('/v1/presets', 'POST', { name: 'avatar', options: {} }), 409, 'preset_exists');
      const invalid = await api('/v1/presets', 'POST', { name: 'broken', options: { width: 'wide' } });
      assertProblem(invalid, 400, 'invalid_options');
      assert.equal(invalid.body.errors[0].field, 'options.width');
      assertProblem(await api('/v1/presets', 'POST', { name: 'Bad Name', options: {} }), 400, 'invalid_body');
      assert.equal((await api('/v1/presets', 'POST', { name: 'grey', options: { grayscale: true, width: 32 } })).status, 201);

      // Its options under the request's: width overridden, the rest from the preset.
      const converted = await submit(alice.key, { preset: 'avatar', width: '32' });
      assert.equal(converted.status, 202, JSON.stringify(converted.body));
      assert.deepEqual(converted.body.options, { output_format: 'webp', width: 32, height: 64, fit: 'cover', quality: 70 });
      const done = await waitForConversion(kiln.url, alice.key, converted.body.id);
      assert.deepEqual([done.output.format, done.output.width, done.output.height], ['webp', 32, 64]);
      const unknown = await submit(alice.key, { preset: 'nope', output_format: 'png' });
      assertProblem(unknown, 400, 'invalid_options');
      assert.equal(unknown.body.errors[0].field, 'preset');
      // A preset without output_format needs one from the request.
      assertProblem(await submit(alice.key, { preset: 'grey' }), 400, 'invalid_options');
      assert.equal((await submit(bob.key, { preset: 'avatar' })).body.errors[0].field, 'preset', "another account's preset is not there");

      // A job: the shared preset, and one file with its own.
      const first = await waitForConversion(kiln.url, alice.key, (await submit(alice.key, { output_format: 'png' })).body.id);
      const job = await api('/v1/jobs', 'POST', {
        preset: 'avatar',
        inputs: [{ conversion_id: first.id }, { conversion_id: first.id, options: { preset: 'grey', output_format: 'png' } }],
      });
      assert.equal(job.status, 202, JSON.stringify(job.body));
      const files = (await request(`${kiln.url}/v1/jobs/${job.body.id}/conversions`, { key: alice.key })).body.data;
      assert.deepEqual(files[0].options, { output_format: 'webp', width: 64, height: 64, fit: 'cover', quality: 70 });
      // The file's preset replaces the job's; the job's explicit fields (none here) and the file's own override either.
      assert.deepEqual(files[1].options, { output_format: 'png', grayscale: true, width: 32 });

      const replaced = await api('/v1/presets/avatar', 'PUT', { options: { output_format: 'jpeg', width: 48 } });
      assert.deepEqual(replaced.body.options, { output_format: 'jpeg', width: '48' });
      assert.deepEqual((await api('/v1/presets')).body.data.map((p: { name: string }) => p.name).sort(), ['avatar', 'grey']);
      assert.equal((await api('/v1/presets/avatar', 'DELETE')).status, 204);
      assertProblem(await api('/v1/presets/avatar'), 404, 'preset_not_found');
      assert.equal((await request(`${kiln.url}/v1/conversions/${converted.body.id}`, { key: alice.key })).body.options.width, 32, 'made with it, kept');
    });

    test('renditions: one upload, three outputs, each decoded, each with its own signed link', async () => {
      const outputs = [
        { output_format: 'webp', width: 400 },
        { output_format: 'jpeg', width: 200, grayscale: true },
        { output_format: 'png', crop: '0,0,100,80' },
      ];
      const response = await submit(alice.key, { quality: '70', outputs: JSON.stringify(outputs) });
      assert.equal(response.status, 202, JSON.stringify(response.body));
      assert.equal(response.body.options.outputs.length, 3);
      assert.equal(response.body.options.outputs[1].quality, 70, 'the shared fields under each output');
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      assert.equal(done.outputs.length, 3);
      const expected = [
        ['webp', 400, 267],
        ['jpeg', 200, 133],
        ['png', 100, 80],
      ];
      const fetched: Buffer[] = [];
      for (const [i, [format, width, height]] of expected.entries()) {
        const output = done.outputs[i];
        assert.deepEqual([output.index, output.format, output.width, output.height], [i, format, width, height]);
        const bytes = Buffer.from(await (await fetch(output.download_url)).arrayBuffer());
        assert.equal(bytes.length, output.bytes);
        assert.deepEqual(await identify(bytes), { format, width, height });
        fetched.push(bytes);
      }
      assert.equal(await magickFormat(fetched[1]!, '%[colorspace]'), 'Gray');
      assert.deepEqual(done.output, { filename: 'photo.webp', format: 'webp', bytes: done.outputs[0].bytes, width: 400, height: 267 }, 'output is the first');
      assert.deepEqual(
        done.outputs.map((o: { filename: string }) => o.filename),
        ['photo.webp', 'photo-1.jpg', 'photo-2.png'],
      );
      // One output's link opens no other.
      const forged = done.outputs[1].download_url.replace('output=1', 'output=2');
      assertProblem(await request(forged), 403, 'invalid_signature');
      const completed = await request(`${kiln.url}/v1/events?subject_id=${done.id}&type=conversion.completed`, { key: alice.key });
      assert.equal(completed.body.data[0].data.outputs.length, 3);

      const tooMany = await submit(alice.key, { outputs: JSON.stringify(Array(11).fill({ output_format: 'png' })) });
      assertProblem(tooMany, 400, 'invalid_options');
      assert.equal(tooMany.body.errors[0].field, 'outputs');
      const badEntry = await submit(alice.key, { outputs: JSON.stringify([{ output_format: 'png' }, { output_format: 'png', width: 'wide' }]) });
      assertProblem(badEntry, 400, 'invalid_options');
      assert.equal(badEntry.body.errors[0].field, 'outputs[1].width');
    });

    test('assets: a watermark uploaded once, laid over conversions; refused when missing, too large or not raster', async () => {
      const logo = await magickImage(['-size', '120x60', 'xc:#00ffff', 'png:-']);
      const created = await request(`${kiln.url}/v1/assets`, { method: 'POST', key: alice.key, body: uploadForm(logo, 'logo.png', {}) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.format, created.body.width, created.body.height], ['png', 120, 60]);
      const asset = created.body.id as string;
      assert.equal((await request(`${kiln.url}/v1/assets/${asset}`, { key: alice.key })).body.id, asset);
      assert.equal((await request(`${kiln.url}/v1/assets/${asset}`, { key: bob.key })).status, 404, "another account's");

      const response = await submit(alice.key, {
        output_format: 'png',
        width: '600',
        watermark: asset,
        watermark_opacity: '1',
        watermark_position: 'northeast',
      });
      assert.equal(response.status, 202, JSON.stringify(response.body));
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      // 600 × 0.25 = 150 wide (75 high), 16 px from the top-right corner.
      assert.match(await magickFormat(output, '%[pixel:p{510,50}]'), /^(cyan|aqua|srgba?\(0,255,255(,1)?\))$/);

      const bomb = await magickImage(['-size', '6000x5000', 'xc:white', 'png:-']);
      assertProblem(await request(`${kiln.url}/v1/assets`, { method: 'POST', key: alice.key, body: uploadForm(bomb, 'big.png', {}) }), 422, 'asset_too_large');
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
      assertProblem(await request(`${kiln.url}/v1/assets`, { method: 'POST', key: alice.key, body: uploadForm(svg, 'a.svg', {}) }), 415, 'unsupported_input');
      for (const [document, name] of [
        [await img2pdf([await makeImage(20, 20)]), 'mark.pdf'],
        [await cjxl(await makeImage(20, 20, 'png')), 'mark.jxl'],
      ] as const) {
        const refused = await request(`${kiln.url}/v1/assets`, { method: 'POST', key: alice.key, body: uploadForm(document, name, {}) });
        assertProblem(refused, 415, 'unsupported_input');
        assert.match(refused.body.detail, /not (PDF|JPEG XL)$/);
      }
      assertProblem(await submit(bob.key, { output_format: 'png', watermark: asset }), 400, 'invalid_options');
      assertProblem(await submit(alice.key, { output_format: 'png', watermark_opacity: '0.5' }), 400, 'invalid_options');
      assert.equal((await request(`${kiln.url}/v1/assets/${asset}`, { method: 'DELETE', key: alice.key })).status, 204);
      assertProblem(await submit(alice.key, { output_format: 'png', watermark: asset }), 400, 'invalid_options');
    });

    test('GET /metrics: Prometheus text behind the admin token, with HTTP traffic by route pattern and the work by status', async () => {
      const converted = await submit(alice.key, { output_format: 'webp', width: '50' });
      assert.equal((await waitForConversion(kiln.url, alice.key, converted.body.id)).status, 'succeeded');
      assert.equal((await request(`${kiln.url}/metrics`)).status, 401);
      const scraped = await fetch(`${kiln.url}/metrics`, { headers: { authorization: `Bearer ${kiln.adminToken}` } });
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await scraped.text();
      const value = (series: string): number =>
        Number(
          text
            .split('\n')
            .find((line) => line.startsWith(`${series} `))
            ?.slice(series.length + 1) ?? NaN,
        );
      assert.ok(value('kiln_http_requests_total{method="POST",route="/v1/conversions",status="202"}') >= 1, 'uploads counted by their route pattern');
      assert.ok(value('kiln_conversions{status="succeeded",format="webp"}') >= 1, 'conversions by status and format');
      assert.ok(!text.includes(converted.body.id), 'no id becomes a label');
      assert.ok(value('kiln_process_resident_memory_bytes') > 0);
      assert.match(text, /^kiln_deliveries|^kiln_jobs/m);
    });

    test('missing, empty and oversized files answer 4xx with stable codes', async () => {
      const noFile = new FormData();
      noFile.set('output_format', 'png');
      assertProblem(await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: alice.key, body: noFile }), 400, 'file_required');
      assertProblem(await submit(alice.key, { output_format: 'png' }, Buffer.alloc(0)), 400, 'empty_file');
      const big = Buffer.alloc(kiln.config.maxUploadBytes + 1, 7);
      const tooBig = await submit(alice.key, { output_format: 'png' }, big);
      assertProblem(tooBig, 413, 'file_too_large');
      assert.equal(tooBig.body.limit_bytes, kiln.config.maxUploadBytes);
      assertProblem(await request(`${kiln.url}/v1/conversions?output_format=png`, { method: 'POST', key: alice.key, body: big }), 413, 'file_too_large');
      const twoFiles = uploadForm(photo, 'a.jpg', { output_format: 'png' });
      twoFiles.append('file', new Blob([photo]), 'b.jpg');
      assertProblem(await request(`${kiln.url}/v1/conversions`, { method: 'POST', key: alice.key, body: twoFiles }), 400, 'unexpected_file');
    });

    test('a file that is not an image is refused at submit with 415 unsupported_input, naming what it looks like, and nothing is stored', async () => {
      const before = (await request(`${kiln.url}/v1/conversions?limit=100`, { key: alice.key })).body.data.length;
      for (const [bytes, looksLike] of [
        [Buffer.from([0x42, 0x4d, 0x36, 0, 0, 0, 0, 0]), /BMP image/],
        [Buffer.from('{"width": 100}'), /JSON/],
        [Buffer.from('just some words'), /text/],
        [Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]), /ZIP archive/],
        [Buffer.from('<html><body>hi</body></html>'), /HTML/],
      ] as const) {
        const response = await submit(alice.key, { output_format: 'webp' }, bytes, 'notes.bin');
        assertProblem(response, 415, 'unsupported_input');
        assert.match(response.body.detail, looksLike);
      }
      assert.equal((await request(`${kiln.url}/v1/conversions?limit=100`, { key: alice.key })).body.data.length, before, 'no conversion was stored');
    });

    test('a file whose header is an image but whose pixels are not fails with unsupported_input after a single attempt', async () => {
      // A PNG signature and nothing a decoder can use: the look at submit passes it, the converter cannot read it.
      const response = await submit(
        alice.key,
        { output_format: 'webp' },
        Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('definitely not an image')]),
        'broken.png',
      );
      assert.equal(response.status, 202);
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'failed');
      assert.equal(done.error.code, 'unsupported_input');
      assert.equal(done.output, null);
      assert.equal(done.download_url, undefined);
      // The row turns failed inside the last activity, before the workflow closes: wait for it to close.
      const handle = kiln.env.client.workflow.getHandle(done.workflow_id);
      const run = await runEnding(handle);
      assert.deepEqual([run.state, run.failureType, run.status], ['FAILED', 'unsupported_input', 'failed'], 'the Web UI shows the run failed, with its code');
      const history = await handle.fetchHistory();
      const attempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
      // convertImage started once, recording the start itself; the failure was recorded by a local activity (a marker in the history).
      assert.deepEqual(attempts, [1]);
      const markers = history.events?.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
      assert.equal(markers, 1, 'recordConversionFailed');
    });

    test('a HEIC from a phone is accepted and converted in a converter process; cut short, it fails with unsupported_input', async () => {
      // Made by Debian's heif-enc (libheif), as an iPhone's: HEVC-coded HEIF with major brand heic.
      const heic = await heifEnc([await makeImage(320, 200)]);
      const response = await submit(alice.key, { output_format: 'jpeg', width: '160' }, heic, 'IMG_0001.HEIC');
      assert.equal(response.status, 202, JSON.stringify(response.body));
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      assert.deepEqual([done.input.format, done.input.width, done.input.height], ['heic', 320, 200]);
      const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      assert.equal(await magickFormat(output, '%m %w %h'), 'JPEG 160 100');

      const cut = await submit(alice.key, { output_format: 'png' }, heic.subarray(0, Math.floor(heic.length / 2)), 'IMG_0002.HEIC');
      assert.equal(cut.status, 202);
      const failed = await waitForConversion(kiln.url, alice.key, cut.body.id);
      assert.deepEqual([failed.status, failed.error.code], ['failed', 'unsupported_input']);
    });

    test('a JPEG XL and a PDF page are converted, with page, density and input.pages; past the last page is page_not_found', async () => {
      const jxl = await cjxl(await makeImage(320, 200, 'png'));
      const pdf = await img2pdf([await makeImage(200, 100), await makeImage(120, 160)], 72);
      const cases: Array<{ file: Buffer; name: string; fields: Record<string, string>; input: unknown[]; output: string }> = [
        { file: jxl, name: 'photo.jxl', fields: { output_format: 'webp', width: '160' }, input: ['jxl', 320, 200, undefined], output: 'WEBP 160 100' },
        // Page 1 is 120x160 points: at 144 dpi, 240x320 pixels.
        { file: pdf, name: 'scan.pdf', fields: { output_format: 'png', page: '1', density: '144' }, input: ['pdf', 240, 320, 2], output: 'PNG 240 320' },
        { file: pdf, name: 'scan.pdf', fields: { output_format: 'jxl', width: '100' }, input: ['pdf', 200, 100, 2], output: 'PNG 100 50' },
      ];
      const accepted = await Promise.all(cases.map(({ file, name, fields }) => submit(alice.key, fields, file, name)));
      for (const [i, response] of accepted.entries()) {
        assert.equal(response.status, 202, JSON.stringify(response.body));
        const done = await waitForConversion(kiln.url, alice.key, response.body.id);
        assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
        assert.deepEqual([done.input.format, done.input.width, done.input.height, done.input.pages], cases[i]!.input);
        const output = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
        assert.equal(await magickFormat(await readableByMagick(output), '%m %w %h'), cases[i]!.output);
      }
      const past = await submit(alice.key, { output_format: 'png', page: '2' }, pdf, 'scan.pdf');
      const failed = await waitForConversion(kiln.url, alice.key, past.body.id);
      assert.deepEqual([failed.status, failed.error.code], ['failed', 'page_not_found']);
    });

    test('a truncated image fails with unsupported_input', async () => {
      const response = await submit(alice.key, { output_format: 'png' }, photo.subarray(0, Math.floor(photo.length / 3)));
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      assert.equal(done.status, 'failed');
      assert.equal(done.error.code, 'unsupported_input');
    });

    test("one account never sees another's conversions", async () => {
      const mine = await submit(alice.key, { output_format: 'png', width: '10' });
      assert.equal(mine.status, 202);
      assertProblem(await request(`${kiln.url}/v1/conversions/${mine.body.id}`, { key: bob.key }), 404, 'conversion_not_found');
      assertProblem(await request(`${kiln.url}/v1/conversions/${mine.body.id}/cancel`, { method: 'POST', key: bob.key }), 404, 'conversion_not_found');
      const bobsList = await request(`${kiln.url}/v1/conversions`, { key: bob.key });
      assert.deepEqual(bobsList.body, { data: [], next_cursor: null });
      await waitForConversion(kiln.url, alice.key, mine.body.id);
    });

    test('lists page with limit and cursor', async () => {
      const first = await request(`${kiln.url}/v1/conversions?limit=2`, { key: alice.key });
      assert.equal(first.body.data.length, 2);
      assert.ok(first.body.next_cursor);
      const second = await request(`${kiln.url}/v1/conversions?limit=2&cursor=${first.body.next_cursor}`, { key: alice.key });
      assert.equal(second.body.data.length, 2);
      assert.ok(second.body.data[0].id < first.body.data[1].id, 'newest first, no overlap');
      assertProblem(await request(`${kiln.url}/v1/conversions?limit=0`, { key: alice.key }), 400, 'invalid_parameter');
      assertProblem(await request(`${kiln.url}/v1/conversions?status=done`, { key: alice.key }), 400, 'invalid_parameter');
    });

    test('lists narrow by output format, tag and time range', async () => {
      const carol = await createAccount(kiln.url, kiln.adminToken, 'carol-filters');
      const early = await submit(carol.key, { output_format: 'png', width: '10', tag: 'early' });
      const between = new Date(Date.now() + 1);
      await waitForConversion(kiln.url, carol.key, early.body.id);
      // created_at is the database's clock: wait until it has passed `between` before the next one.
      while ((await kiln.database.db.selectNoFrom((eb) => eb.fn<Date>('now', []).as('now')).executeTakeFirstOrThrow()).now <= between) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const late = await submit(carol.key, { output_format: 'webp', width: '10', tag: 'late' });
      await waitForConversion(kiln.url, carol.key, late.body.id);
      const ids = async (query: string) => {
        const listed = await request(`${kiln.url}/v1/conversions?${query}`, { key: carol.key });
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        return listed.body.data.map((row: { id: string }) => row.id);
      };
      assert.deepEqual(await ids(''), [late.body.id, early.body.id]);
      assert.deepEqual(await ids('output_format=png'), [early.body.id]);
      assert.deepEqual(await ids('tag=late'), [late.body.id]);
      assert.deepEqual(await ids('tag=late&output_format=png'), []);
      assert.deepEqual(await ids(`created_after=${encodeURIComponent(between.toISOString())}`), [late.body.id]);
      assert.deepEqual(await ids(`created_before=${encodeURIComponent(between.toISOString())}`), [early.body.id]);
      for (const bad of ['created_after=yesterday', 'created_before=2026-12-07T09:00:00', 'output_format=bmp', 'tag=two%20words']) {
        assertProblem(await request(`${kiln.url}/v1/conversions?${bad}`, { key: carol.key }), 400, 'invalid_parameter');
      }
      assertProblem(await request(`${kiln.url}/v1/jobs?created_before=soon`, { key: carol.key }), 400, 'invalid_parameter');
    });

    test('download links: tampered answers 403, expired 410', async () => {
      const response = await submit(alice.key, { output_format: 'png', width: '20' });
      const done = await waitForConversion(kiln.url, alice.key, response.body.id);
      const url = new URL(done.download_url);
      const tampered = new URL(url);
      tampered.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600));
      assertProblem(await request(tampered.toString()), 403, 'invalid_signature');
      const otherId = new URL(url);
      otherId.pathname = otherId.pathname.replace(done.id, 'cnv_000000000000000000000000');
      assertProblem(await request(otherId.toString()), 403, 'invalid_signature');
      assertProblem(await request(`${kiln.url}/v1/downloads/${done.id}`), 403, 'invalid_signature');
      const signer = new DownloadSigner('test-signing-key', () => kiln.url, 3600);
      const expired = signer.sign(done.id, new Date(Date.now() - 2 * 3600 * 1000));
      assertProblem(await request(expired.url), 410, 'link_expired');
      assert.equal((await fetch(signer.sign(done.id).url)).status, 200);
    });

    test('cancel of a conversion whose workflow never started: the API records it and publishes conversion.cancelled', async () => {
      // As after Temporal was down at submit time: the row exists, no workflow does.
      const id = newId('cnv');
      await kiln.blobs.write(conversionInputKey(alice.id, id), photo);
      await insertQueuedConversion(kiln.database.db, {
        id,
        accountId: alice.id,
        options: { output_format: 'png' },
        inputKey: conversionInputKey(alice.id, id),
        filename: 'p.jpg',
        bytes: photo.length,
        contentType: 'image/jpeg',
      });
      const cancelled = await request(`${kiln.url}/v1/conversions/${id}/cancel`, { method: 'POST', key: alice.key });
      assert.equal(cancelled.status, 202);
      assert.equal(cancelled.body.status, 'cancelled');
      const events = await request(`${kiln.url}/v1/events?subject_id=${id}`, { key: alice.key });
      assert.deepEqual(
        events.body.data.map((e: { type: string }) => e.type),
        ['conversion.cancelled'],
      );
      assert.equal(events.body.data[0].data.status, 'cancelled');
    });

    test('cancel: a conversion signalled before any worker runs it ends cancelled; a finished one answers 409', async () => {
      await kiln.stopWorkers();
      let pending: string;
      try {
        const response = await submit(alice.key, { output_format: 'png' });
        pending = response.body.id;
        const cancelled = await request(`${kiln.url}/v1/conversions/${pending}/cancel`, { method: 'POST', key: alice.key });
        assert.equal(cancelled.status, 202);
      } finally {
        await kiln.startWorkers();
      }
      const done = await waitForConversion(kiln.url, alice.key, pending);
      assert.equal(done.status, 'cancelled');
      assert.equal(done.error.code, 'cancelled');
      const again = await request(`${kiln.url}/v1/conversions/${pending}/cancel`, { method: 'POST', key: alice.key });
      assertProblem(again, 409, 'conversion_finished');
      const run = await runEnding(kiln.env.client.workflow.getHandle(conversionWorkflowId(pending)));
      assert.deepEqual([run.state, run.status], ['CANCELLED', 'cancelled'], 'the Web UI shows the run cancelled');
    });

    test('unknown routes answer problem+json 404; a wrong method 405 with Allow', async () => {
      assertProblem(await request(`${kiln.url}/nope`), 404, 'not_found');
      const wrongMethod = await request(`${kiln.url}/v1/conversions`, { method: 'PUT', key: alice.key });
      assertProblem(wrongMethod, 405, 'method_not_allowed');
      assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
      assertProblem(await request(`${kiln.url}/healthz`, { method: 'DELETE' }), 405, 'method_not_allowed');
    });
  });
}
