import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ConversionInputError, convertImage } from '../../src/convert/pipeline.js';
import { parseConversionOptions } from '../../src/convert/options.js';
import { type ConversionOptions } from '../../src/model/conversion-options.js';
import { identify } from '../support/images.js';
import { magickDistance, magickFormat } from '../support/magick.js';

/**
 * Each operation on a real photograph (Debian's mate-backgrounds: a 1680×1050 JPEG from a
 * Canon camera, EXIF included), every output decoded by ImageMagick, not by sharp:
 * dimensions, format, pixels compared with ImageMagick doing the same operation, colour
 * space, metadata kept or gone, encoder settings as the file records them.
 */

const photo = readFileSync('/usr/share/backgrounds/mate/nature/Dune.jpg');
const limits = { maxInputPixels: 100_000_000, maxOutputPixels: 50_000_000, avifEffort: 2, maxFrames: 1000 };

/** Options as the API parses them from form fields. */
function options(fields: Record<string, string>): ConversionOptions {
  const parsed = parseConversionOptions(fields, { maxOutputDimension: 16384, maxOutputPixels: limits.maxOutputPixels });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.options;
}

const convert = async (fields: Record<string, string>): Promise<Buffer> => (await convertImage(photo, options(fields), limits)).bytes;

test('no upscaling unless enlarge is set', async () => {
  assert.deepEqual(await identify(await convert({ output_format: 'webp', width: '5000' })), { format: 'webp', width: 1680, height: 1050 });
  assert.deepEqual(await identify(await convert({ output_format: 'webp', width: '2000', enlarge: 'true' })), { format: 'webp', width: 2000, height: 1250 });
});

test('crop takes the rectangle asked for, pixel for pixel as ImageMagick crops it', async () => {
  const cropped = await convert({ output_format: 'png', crop: '300,200,400,250' });
  assert.deepEqual(await identify(cropped), { format: 'png', width: 400, height: 250 });
  assert.ok((await magickDistance(photo, ['-crop', '400x250+300+200'], cropped)) < 0.02, 'the same region');
  assert.ok((await magickDistance(photo, ['-crop', '400x250+0+0'], cropped)) > 0.05, 'not another region');
  await assert.rejects(convertImage(photo, options({ output_format: 'png', crop: '1600,0,200,200' }), limits), (error: unknown) => {
    assert.ok(error instanceof ConversionInputError);
    assert.equal(error.code, 'crop_outside_image');
    return true;
  });
});

test('cover with a position or a smart crop keeps the asked side of the photo', async () => {
  const west = await convert({ output_format: 'png', width: '300', height: '300', position: 'west' });
  const east = await convert({ output_format: 'png', width: '300', height: '300', position: 'east' });
  // ImageMagick: scale to 300 high (480 wide), then the left or right 300 columns.
  assert.ok((await magickDistance(photo, ['-resize', 'x300', '-crop', '300x300+0+0'], west)) < 0.03, 'west is the left edge');
  assert.ok((await magickDistance(photo, ['-resize', 'x300', '-gravity', 'east', '-crop', '300x300+0+0'], east)) < 0.03, 'east is the right edge');
  for (const position of ['attention', 'entropy']) {
    assert.deepEqual(await identify(await convert({ output_format: 'png', width: '300', height: '300', position })), {
      format: 'png',
      width: 300,
      height: 300,
    });
  }
});

test('rotate by any angle grows to hold the corners, filled with background; flip and flop mirror', async () => {
  const quarter = await convert({ output_format: 'png', width: '400', rotate: '90' });
  assert.deepEqual(await identify(quarter), { format: 'png', width: 250, height: 400 });
  assert.ok((await magickDistance(photo, ['-resize', '400x', '-rotate', '90'], quarter)) < 0.02);
  const tilted = await convert({ output_format: 'jpeg', width: '400', rotate: '30', background: '#ff0000' });
  const size = await identify(tilted);
  assert.ok(Math.abs(size.width - 472) <= 2 && Math.abs(size.height - 417) <= 2, JSON.stringify(size));
  assert.match(await magickFormat(tilted, '%[pixel:p{1,1}]'), /^srgb\((25[0-5]|24\d),[0-9],[0-9]\)$|^red$/, 'a red corner');
  const flipped = await convert({ output_format: 'png', width: '400', flip: 'true' });
  assert.ok((await magickDistance(photo, ['-resize', '400x', '-flip'], flipped)) < 0.02);
  const flopped = await convert({ output_format: 'png', width: '400', flop: 'true' });
  assert.ok((await magickDistance(photo, ['-resize', '400x', '-flop'], flopped)) < 0.02);
});

test('extend pads each side with the background; trim removes a uniform border', async () => {
  const padded = await convert({ output_format: 'png', width: '200', extend: '10,20,30,40', background: '#00ff00' });
  assert.deepEqual(await identify(padded), { format: 'png', width: 260, height: 165 });
  for (const [x, y] of [
    [0, 0],
    [259, 164],
    [39, 100],
  ]) {
    assert.match(await magickFormat(padded, `%[pixel:p{${x},${y}}]`), /^(lime|srgb\(0,255,0\))$/, `padding at ${x},${y}`);
  }
  // The padded picture, trimmed: back to the photo's 200×125.
  const trimmed = await convertImage(padded, options({ output_format: 'png', trim: 'true' }), limits);
  assert.deepEqual(await identify(trimmed.bytes), { format: 'png', width: 200, height: 125 });
});

test('grayscale, blur, sharpen and modulate change the pixels as asked', async () => {
  const grey = await convert({ output_format: 'jpeg', width: '400', grayscale: 'true' });
  assert.equal(await magickFormat(grey, '%[colorspace]'), 'Gray');
  const plain = await convert({ output_format: 'png', width: '400' });
  const blurred = await convert({ output_format: 'png', width: '400', blur: '4' });
  // Blurring removes detail: the difference from a blurred copy made by ImageMagick is small, from the sharp original larger.
  assert.ok((await magickDistance(plain, ['-gaussian-blur', '0x4'], blurred)) < (await magickDistance(plain, [], blurred)));
  const mean = async (bytes: Buffer): Promise<number> => Number(await magickFormat(bytes, '%[fx:mean]'));
  assert.ok((await mean(await convert({ output_format: 'png', width: '400', brightness: '1.5' }))) > (await mean(plain)) + 0.05, 'brighter');
  const desaturated = await convert({ output_format: 'png', width: '400', saturation: '0' });
  // No colour left: making it grey with ImageMagick changes (next to) nothing; the original it changes a lot.
  assert.ok((await magickDistance(desaturated, ['-colorspace', 'Gray', '-colorspace', 'sRGB'], desaturated)) < 0.01, 'no colour left');
  assert.ok((await magickDistance(plain, ['-colorspace', 'Gray', '-colorspace', 'sRGB'], plain)) > 0.03, 'the photo had colour');
  const sharpened = await convert({ output_format: 'png', width: '400', sharpen: '2' });
  assert.ok((await magickDistance(plain, [], sharpened)) > 0.001, 'sharpen changed it');
});

test('metadata is stripped by default and kept when asked; colour is sRGB', async () => {
  assert.equal(await magickFormat(photo, '%[EXIF:Make]'), 'Canon', 'the photo has EXIF');
  const stripped = await convert({ output_format: 'jpeg', width: '400' });
  assert.equal(await magickFormat(stripped, '%[EXIF:Make]'), '');
  assert.equal(await magickFormat(stripped, '%[colorspace]'), 'sRGB');
  const kept = await convert({ output_format: 'jpeg', width: '400', keep_metadata: 'true' });
  assert.equal(await magickFormat(kept, '%[EXIF:Make]'), 'Canon');
});

test('encoder options are what the file records', async () => {
  assert.equal(await magickFormat(await convert({ output_format: 'jpeg', width: '400', progressive: 'true' }), '%[interlace]'), 'JPEG');
  assert.equal(await magickFormat(await convert({ output_format: 'jpeg', width: '400' }), '%[interlace]'), 'None');
  assert.equal(
    await magickFormat(await convert({ output_format: 'jpeg', width: '400', chroma_subsampling: '4:4:4' }), '%[jpeg:sampling-factor]'),
    '1x1,1x1,1x1',
  );
  assert.equal(await magickFormat(await convert({ output_format: 'jpeg', width: '400' }), '%[jpeg:sampling-factor]'), '2x2,1x1,1x1');
  const palette = await convert({ output_format: 'png', width: '400', palette: 'true', quality: '60' });
  assert.equal(await magickFormat(palette, '%[png:IHDR.color-type-orig]'), '3', 'indexed colour');
  const lossless = await convert({ output_format: 'webp', width: '200', lossless: 'true' });
  const lossy = await convert({ output_format: 'webp', width: '200' });
  assert.ok((await magickDistance(await convert({ output_format: 'png', width: '200' }), [], lossless)) < 0.001, 'lossless keeps every pixel');
  assert.ok(lossless.length > lossy.length);
  assert.deepEqual(await identify(await convert({ output_format: 'jpeg', width: '400', mozjpeg: 'true' })), { format: 'jpeg', width: 400, height: 250 });
});

test('max_bytes picks the best quality that fits, or fails with cannot_meet_max_bytes', async () => {
  for (const format of ['jpeg', 'webp', 'avif'] as const) {
    const full = await convert({ output_format: format, width: '800' });
    const budget = Math.floor(full.length / 3);
    const fitted = await convert({ output_format: format, width: '800', max_bytes: String(budget) });
    assert.ok(fitted.length <= budget, `${format}: ${fitted.length} ≤ ${budget}`);
    assert.ok(fitted.length > budget / 3, `${format}: not needlessly small (${fitted.length})`);
    assert.equal((await identify(fitted)).width, 800);
    // Already small enough at the quality asked for: that one, untouched.
    assert.equal((await convert({ output_format: format, width: '800', max_bytes: String(full.length * 2) })).length, full.length);
  }
  await assert.rejects(convertImage(photo, options({ output_format: 'jpeg', width: '800', max_bytes: '300' }), limits), (error: unknown) => {
    assert.ok(error instanceof ConversionInputError);
    assert.equal(error.code, 'cannot_meet_max_bytes');
    return true;
  });
});

test('options that do not fit the format or each other are refused, naming the field', () => {
  const refused = (fields: Record<string, string>): string[] => {
    const parsed = parseConversionOptions({ output_format: 'jpeg', ...fields }, { maxOutputDimension: 16384, maxOutputPixels: 50_000_000 });
    assert.equal(parsed.ok, false, JSON.stringify(fields));
    return parsed.ok ? [] : parsed.problems.map((p) => p.field);
  };
  assert.deepEqual(refused({ lossless: 'true' }), ['lossless']);
  assert.deepEqual(refused({ output_format: 'png', max_bytes: '1000' }), ['max_bytes']);
  assert.deepEqual(refused({ output_format: 'webp', effort: '9' }), ['effort']);
  assert.deepEqual(refused({ position: 'attention', width: '10' }), ['position']);
  assert.deepEqual(refused({ crop: '1,2,3' }), ['crop']);
  assert.deepEqual(refused({ background: 'red' }), ['background']);
  assert.deepEqual(refused({ rotate: '1e3' }), ['rotate']);
  assert.deepEqual(refused({ flip: 'yes' }), ['flip']);
  assert.deepEqual(refused({ extend: '1,2' }), ['extend']);
  assert.deepEqual(refused({ blur: '0.1' }), ['blur']);
});

/** An image ImageMagick makes (so sharp never grades its own input): `args` as for `convert`. */
function magickMade(args: string[]): Buffer {
  return execFileSync('convert', args, { maxBuffer: 64 * 1024 * 1024 });
}

test('animations stay animated: frames resized one by one, delays kept; first_frame and page take a still', async () => {
  // Three 64×48 frames, red, green, blue, 0.2 s each.
  const gif = magickMade(['-delay', '20', '-size', '64x48', 'xc:red', 'xc:green', 'xc:blue', '-loop', '0', 'gif:-']);
  const frames = async (bytes: Buffer): Promise<string[]> => (await magickFormat(bytes, '%m %wx%h %T|')).split('|').filter(Boolean);
  for (const output_format of ['gif', 'webp'] as const) {
    const result = await convertImage(gif, options({ output_format, width: '32' }), limits);
    assert.deepEqual(await frames(result.bytes), Array(3).fill(`${output_format.toUpperCase()} 32x24 20`), output_format);
    assert.deepEqual(result.output, { format: output_format, width: 32, height: 24, bytes: result.bytes.length, frames: 3 });
    assert.equal(result.input.pages, 3);
  }
  const still = await convertImage(gif, options({ output_format: 'gif', width: '32', first_frame: 'true' }), limits);
  assert.equal((await frames(still.bytes)).length, 1);
  assert.equal(still.output.frames, undefined);
  const second = await convertImage(gif, options({ output_format: 'png', page: '1' }), limits);
  assert.match(await magickFormat(second.bytes, '%[pixel:p{5,5}]'), /^(green|srgb\(0,128,0\))$/, 'the green frame');
  assert.equal((await frames((await convertImage(gif, options({ output_format: 'png' }), limits)).bytes)).length, 1, 'png takes the first frame');

  const refusedWith = async (fields: Record<string, string>, code: string, frameLimit = 1000): Promise<void> => {
    await assert.rejects(convertImage(gif, options(fields), { ...limits, maxFrames: frameLimit }), (error: unknown) => {
      assert.ok(error instanceof ConversionInputError, String(error));
      assert.equal(error.code, code);
      return true;
    });
  };
  await refusedWith({ output_format: 'gif', rotate: '90' }, 'unsupported_for_animation');
  await refusedWith({ output_format: 'webp', flip: 'true' }, 'unsupported_for_animation');
  await refusedWith({ output_format: 'gif' }, 'too_many_frames', 2);
  await refusedWith({ output_format: 'gif', page: '3' }, 'page_not_found');
  // Every frame counts into the pixel limit.
  await assert.rejects(convertImage(gif, options({ output_format: 'gif' }), { ...limits, maxInputPixels: 64 * 48 * 2 }), /9216 pixels \(3 frames of 64x48\)/);
  assert.ok(await convertImage(gif, options({ output_format: 'gif', first_frame: 'true' }), { ...limits, maxInputPixels: 64 * 48 * 2 }), 'one frame fits');
});

test('a multi-page TIFF converts the page asked for; an SVG rasterises at the density asked for and fetches nothing', async () => {
  const tiff = magickMade(['-size', '20x10', 'xc:red', '-size', '30x15', 'xc:blue', 'tiff:-']);
  assert.deepEqual(await identify((await convertImage(tiff, options({ output_format: 'png', page: '1' }), limits)).bytes), {
    format: 'png',
    width: 30,
    height: 15,
  });
  assert.deepEqual(await identify((await convertImage(tiff, options({ output_format: 'png' }), limits)).bytes), { format: 'png', width: 20, height: 10 });

  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    const svg = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="50">` +
        `<rect width="100" height="50" fill="#00f"/><image x="0" y="0" width="50" height="50" href="http://127.0.0.1:${port}/spy.png" xlink:href="http://127.0.0.1:${port}/spy2.png"/>` +
        `<style>@import url(http://127.0.0.1:${port}/spy.css);</style></svg>`,
    );
    for (const [density, size] of [
      [undefined, [100, 50]],
      ['144', [200, 100]],
      ['720', [1000, 500]],
    ] as const) {
      const result = await convertImage(svg, options({ output_format: 'png', ...(density ? { density } : {}) }), limits);
      assert.deepEqual(await identify(result.bytes), { format: 'png', width: size[0], height: size[1] });
    }
    // The conversions have ended: had librsvg fetched anything, the server would have seen it by now.
    assert.equal(connections, 0, 'no external reference was fetched');
  } finally {
    server.close();
  }
});

test('a watermark goes where asked, at its size and opacity, tiled when asked, and changes nothing else', async () => {
  const magenta = magickMade(['-size', '200x100', 'xc:#ff00ff', 'png:-']);
  const withMark = async (fields: Record<string, string>, asset: Buffer | null = magenta): Promise<Buffer> =>
    (await convertImage(photo, options({ output_format: 'png', width: '800', watermark: 'ast_test', ...fields }), limits, asset ? { watermark: asset } : {}))
      .bytes;
  const plain = await convert({ output_format: 'png', width: '800' });
  const marked = await withMark({ watermark_opacity: '1' });
  assert.deepEqual(await identify(marked), { format: 'png', width: 800, height: 500 });
  // 800 × 0.25 = 200 wide (100 high), 16 px from the bottom-right corner: x 584–783, y 384–483.
  for (const [x, y] of [
    [585, 385],
    [782, 482],
    [684, 434],
  ]) {
    assert.match(await magickFormat(marked, `%[pixel:p{${x},${y}}]`), /^(magenta|fuchsia|srgba?\(255,0,255(,1)?\))$/, `watermark at ${x},${y}`);
  }
  assert.doesNotMatch(await magickFormat(marked, '%[pixel:p{579,434}]'), /^(magenta|fuchsia|srgba?\(255,0,255(,1)?\))$/, 'not left of it');
  assert.doesNotMatch(await magickFormat(marked, '%[pixel:p{790,434}]'), /^(magenta|fuchsia|srgba?\(255,0,255(,1)?\))$/, 'the margin stays clear');
  assert.ok((await magickDistance(plain, ['-crop', '500x300+0+0'], crop(marked, '500x300+0+0'))) < 0.001, 'the rest is untouched');

  const faded = await withMark({ watermark_opacity: '0.5', watermark_position: 'northwest', watermark_margin: '0' });
  const [r, g, b] = (await magickFormat(faded, '%[fx:int(255*p{50,50}.r)],%[fx:int(255*p{50,50}.g)],%[fx:int(255*p{50,50}.b)]')).split(',').map(Number);
  const [pr, pg, pb] = (await magickFormat(plain, '%[fx:int(255*p{50,50}.r)],%[fx:int(255*p{50,50}.g)],%[fx:int(255*p{50,50}.b)]')).split(',').map(Number);
  for (const [mixed, under, over] of [
    [r!, pr!, 255],
    [g!, pg!, 0],
    [b!, pb!, 255],
  ] as Array<[number, number, number]>) {
    assert.ok(Math.abs(mixed - (under + over) / 2) <= 3, `half of each: ${mixed} from ${under} and ${over}`);
  }

  const tiled = await withMark({ watermark_opacity: '1', watermark_tiled: 'true', watermark_size: '0.1' });
  for (const [x, y] of [
    [5, 5],
    [400, 260],
    [795, 495],
  ]) {
    assert.match(await magickFormat(tiled, `%[pixel:p{${x},${y}}]`), /^(magenta|fuchsia|srgba?\(255,0,255(,1)?\))$/, `a tile at ${x},${y}`);
  }

  await assert.rejects(withMark({}, null), (error: unknown) => error instanceof ConversionInputError && error.code === 'watermark_not_found');
});

/** The region `geometry` of an image, as PNG, cut by ImageMagick. */
function crop(bytes: Buffer, geometry: string): Buffer {
  return execFileSync('convert', ['-', '-crop', geometry, '+repage', 'png:-'], { input: bytes, maxBuffer: 64 * 1024 * 1024 });
}

test('a text watermark is drawn in its colour where asked; markup in the text stays text', async () => {
  const plain = await convert({ output_format: 'png', width: '800' });
  const marked = (
    await convertImage(
      photo,
      options({
        output_format: 'png',
        width: '800',
        watermark_text: '<b>Kiln & co</b>',
        watermark_color: '#00ff00',
        watermark_opacity: '1',
        watermark_size: '0.5',
      }),
      limits,
    )
  ).bytes;
  assert.deepEqual(await identify(marked), { format: 'png', width: 800, height: 500 });
  // Bottom-right quarter changed (the text is there, green), top-left untouched.
  assert.ok((await magickDistance(plain, ['-crop', '400x200+0+0'], crop(marked, '400x200+0+0'))) < 0.001);
  const region = crop(marked, '420x140+364+344');
  assert.ok((await magickDistance(crop(plain, '420x140+364+344'), [], region)) > 0.02, 'the text changed its corner');
  assert.ok(Number(await magickFormat(region, '%[fx:maxima.g]')) > 0.99, 'drawn in green');
  // A bare & is invalid Pango markup: the render above would have failed had the text not been escaped.
  assert.equal(
    parseConversionOptions({ output_format: 'png', watermark_text: 'a', watermark: 'ast_x' }, { maxOutputDimension: 100, maxOutputPixels: 10_000 }).ok,
    false,
  );
});
