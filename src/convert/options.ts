import { z } from 'zod';
import { fieldProblems, type FieldProblem } from '../validation.js';
import { FIT_MODES, GRAVITIES, MAX_DIMENSION, OUTPUT_FORMATS, POSITIONS, type FitMode, type OutputFormat } from '../model/formats.js';
import type { ConversionOptions, CropRect, Padding } from '../model/conversion-options.js';

/**
 * Every conversion option is declared once below (`optionSpecs`), in both the shapes it
 * arrives in: as text, from a form field or a query parameter, parsed strictly (no "12px",
 * no "1e3"); and as a JSON value, typed (a number, a boolean, a string). The text shape
 * parses; a JSON body is checked against the JSON shape, then read as text by the same
 * parser, so both ways mean the same. The OpenAPI document shows each shape where it is taken.
 */
interface OptionSpec {
  text: z.ZodType;
  json: z.ZodType;
}

const between = (name: string, min: number, max: number) => [`${name} must be at least ${min}`, `${name} must be at most ${max}`] as const;

function integer(name: string, min: number, max: number, description?: string) {
  const [low, high] = between(name, min, max);
  return describe(
    {
      text: z.string().regex(/^\d+$/, `${name} must be a whole number`).transform(Number).pipe(z.number().int().min(min, low).max(max, high)),
      json: z
        .number({ message: `${name} must be a whole number` })
        .int(`${name} must be a whole number`)
        .min(min, low)
        .max(max, high),
    },
    description,
  );
}

function decimal(name: string, min: number, max: number, description?: string) {
  const [low, high] = between(name, min, max);
  return describe(
    {
      text: z
        .string()
        .regex(/^-?\d+(\.\d+)?$/, `${name} must be a number such as 1.5`)
        .transform(Number)
        .pipe(z.number().min(min, low).max(max, high)),
      json: z
        .number({ message: `${name} must be a number such as 1.5` })
        .min(min, low)
        .max(max, high),
    },
    description,
  );
}

/** true or false (forms also say 1 or 0, in any case). */
function flag(name: string, description?: string) {
  return describe(
    {
      text: z
        .string()
        .transform((value) => value.toLowerCase())
        .pipe(z.enum(['true', 'false', '1', '0'], { message: `${name} must be true or false` }))
        .transform((value) => value === 'true' || value === '1'),
      json: z.boolean({ message: `${name} must be true or false` }),
    },
    description,
  );
}

/** `true` for a default strength, or a number in range. */
function flagOrNumber(name: string, fallback: number, min: number, max: number, description?: string) {
  const message = `${name} must be true or a number from ${min} to ${max}`;
  return describe(
    {
      text: z.string().transform((value, ctx) => {
        const lower = value.toLowerCase();
        if (lower === 'true' || lower === '1') return fallback;
        const number = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
        if (!(number >= min && number <= max)) {
          ctx.addIssue({ code: 'custom', message });
          return z.NEVER;
        }
        return number;
      }),
      json: z.union([z.literal(true), z.number().min(min).max(max)], { message }),
    },
    description,
  );
}

/**
 * Whole numbers separated by commas: the same text in a form and in JSON. `shape` is each
 * allowed list as regular expressions of its numbers (spaces around them are taken).
 */
function numberList<T>(name: string, shapes: string[][], message: string, read: (values: number[]) => T, description?: string) {
  const alternatives = shapes.map((numbers) => numbers.map((number) => `\\s*(${number})\\s*`).join(','));
  const shape = z.string().regex(new RegExp(`^(${alternatives.join('|')})$`), `${name} must be ${message}`);
  return describe({ text: shape.transform((value) => read(value.split(',').map((part) => Number(part.trim())))), json: shape }, description);
}

/** Up to 99999: a coordinate or size that passes the image's own is refused when the image is read. */
const COORDINATE = '\\d{1,5}';
const SIZE = '0*[1-9]\\d{0,4}';
/** 0 to MAX_PADDING (10000). */
const PADDING = '0*\\d{1,4}|0*10000';

/** One of `values`, or one of its `aliases`, in any case. */
function choice<const T extends readonly [string, ...string[]]>(
  name: string,
  values: T,
  { id, aliases = {}, description }: { id: string; aliases?: Record<string, T[number]>; description?: string },
) {
  const spellings = [...values, ...Object.keys(aliases)] as [string, ...string[]];
  const shape = z.preprocess(
    (value) => (typeof value === 'string' ? value.toLowerCase() : value),
    z.enum(spellings, { error: (issue) => (issue.input === undefined ? `${name} is required` : `${name} must be one of ${values.join(', ')}`) }).meta({ id }),
  );
  return describe({ text: shape.transform((value): T[number] => aliases[value] ?? (value as T[number])), json: shape }, description);
}

/** `#rgb`, `#rrggbb` or `#rrggbbaa`, in any case. */
function colour(name: string, description?: string) {
  const shape = z.string().regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/, `${name} must be a colour as #rgb, #rrggbb or #rrggbbaa`);
  return describe({ text: shape.transform((value) => value.toLowerCase()), json: shape }, description);
}

function text(schema: z.ZodString, description?: string) {
  return describe({ text: schema, json: schema }, description);
}

function describe<T extends OptionSpec>(spec: T, description: string | undefined): T {
  return description ? ({ text: spec.text.describe(description), json: spec.json.describe(description) } as T) : spec;
}

export interface OptionLimits {
  maxOutputDimension: number;
  maxOutputPixels: number;
  /** Outputs one conversion may ask for (KILN_MAX_OUTPUTS); absent: renditions are not taken. */
  maxOutputs?: number;
}

/** The field that asks for several outputs of one upload. */
export const OUTPUTS_FIELD = 'outputs';

/** Other names people use for the output formats; matched in any case, like the names themselves. */
const FORMAT_ALIASES: Record<string, OutputFormat> = { jpg: 'jpeg', jpe: 'jpeg', tif: 'tiff' };

/** Fits whose output is exactly width × height when both are given. */
const EXACT_FITS: ReadonlySet<FitMode> = new Set(['cover', 'contain', 'fill']);

/** The formats each encoder option applies to, and its range where it depends on the format. */
const ENCODER_OPTIONS: Record<string, readonly OutputFormat[]> = {
  lossless: ['webp', 'avif', 'jxl'],
  progressive: ['jpeg', 'png'],
  chroma_subsampling: ['jpeg', 'avif'],
  palette: ['png'],
  mozjpeg: ['jpeg'],
  max_bytes: ['jpeg', 'webp', 'avif', 'jxl'],
  effort: ['webp', 'avif', 'png', 'gif', 'jxl'],
  // The JPEG XL encoder beside sharp is handed sRGB pixels alone.
  keep_metadata: ['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff'],
  keep_icc: ['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff'],
};
const EFFORT_RANGE: Partial<Record<OutputFormat, [number, number]>> = { webp: [0, 6], avif: [0, 9], png: [1, 10], gif: [1, 10], jxl: [1, 9] };

/** The largest max_bytes asked for: no output is bigger than an upload may be. */
const MAX_BYTES_CEILING = 1 << 30;
const MAX_PADDING = 10_000;

/** Every option, in both its shapes (see OptionSpec). */
function optionSpecs(limits: OptionLimits) {
  return {
    output_format: choice('output_format', OUTPUT_FORMATS, {
      id: 'OutputFormatName',
      aliases: FORMAT_ALIASES,
      description: 'The format to write; required here or in a preset',
    }),
    quality: integer('quality', 1, 100),
    width: integer('width', 1, limits.maxOutputDimension),
    height: integer('height', 1, limits.maxOutputDimension),
    fit: choice('fit', FIT_MODES, { id: 'FitMode' }),
    position: choice('position', POSITIONS, {
      id: 'Position',
      aliases: { centre: 'center' },
      description:
        'Where cover crops (or contain places the image): a side or corner, center, or smart crop: attention (salient detail), entropy (busiest area)',
    }),
    enlarge: flag('enlarge', 'Allow an output larger than the input (default false: never upscale)'),
    crop: numberList(
      'crop',
      [[COORDINATE, COORDINATE, SIZE, SIZE]],
      'left,top,width,height: whole numbers up to 99999, width and height at least 1',
      ([left, top, width, height]): CropRect => ({ left: left!, top: top!, width: width!, height: height! }),
      'left,top,width,height: a rectangle of the upright input, taken before anything else',
    ),
    trim: flagOrNumber('trim', 10, 1, 255, 'Remove borders of (near) the top-left pixel’s colour; true, or the threshold of difference 1–255 (default 10)'),
    rotate: decimal('rotate', -360, 360, 'Degrees clockwise, any angle; the corners are filled with background'),
    background: colour(
      'background',
      'Fills rotate’s corners and extend’s padding, and replaces transparency for formats without alpha (default white, transparent where the format keeps alpha)',
    ),
    flip: flag('flip', 'Mirror top to bottom'),
    flop: flag('flop', 'Mirror left to right'),
    extend: numberList(
      'extend',
      [[PADDING], [PADDING, PADDING, PADDING, PADDING]],
      `one whole number from 0 to ${MAX_PADDING} for every side, or four separated by commas: top,right,bottom,left`,
      (values): Padding =>
        values.length === 1
          ? { top: values[0]!, right: values[0]!, bottom: values[0]!, left: values[0]! }
          : { top: values[0]!, right: values[1]!, bottom: values[2]!, left: values[3]! },
      'Padding in pixels: one number for all sides, or top,right,bottom,left',
    ),
    blur: decimal('blur', 0.3, 100, 'Gaussian blur, sigma 0.3–100'),
    sharpen: flagOrNumber('sharpen', 1, 0.01, 10, 'true, or sigma 0.01–10'),
    brightness: decimal('brightness', 0, 10, 'Multiplier (1 unchanged)'),
    saturation: decimal('saturation', 0, 10, 'Multiplier (0 grey, 1 unchanged)'),
    hue: decimal('hue', -360, 360, 'Hue rotation in degrees'),
    grayscale: flag('grayscale'),
    normalize: flag('normalize', 'Stretch the luminance to the full range'),
    keep_metadata: flag('keep_metadata', 'Keep EXIF, XMP, IPTC and the ICC profile (default: stripped, colour converted to sRGB)'),
    keep_icc: flag('keep_icc', 'Keep the input’s ICC profile (and its colours) instead of converting to sRGB'),
    lossless: flag('lossless', 'webp, avif, jxl'),
    effort: integer('effort', 0, 10, 'Encoder effort: webp 0–6, avif 0–9 (default KILN_AVIF_EFFORT), png and gif 1–10, jxl 1–9 (default 7)'),
    progressive: flag('progressive', 'Progressive JPEG, interlaced PNG'),
    chroma_subsampling: choice('chroma_subsampling', ['4:2:0', '4:4:4'], { id: 'ChromaSubsampling', description: 'jpeg, avif' }),
    palette: flag('palette', 'Palette-based PNG (smaller, up to 256 colours; quality sets how many)'),
    mozjpeg: flag('mozjpeg', 'mozjpeg’s defaults: smaller JPEGs for more CPU'),
    max_bytes: integer(
      'max_bytes',
      100,
      MAX_BYTES_CEILING,
      'The best quality whose output fits in this many bytes (jpeg, webp, avif, jxl; from quality, default the encoder’s, downwards); fails with cannot_meet_max_bytes when even quality 1 does not',
    ),
    first_frame: flag('first_frame', 'Convert an animation’s first frame as a still, even to gif or webp'),
    page: integer(
      'page',
      0,
      9999,
      'The page to convert, from 0: of a PDF or a multi-page TIFF, the image of a HEIC collection (default its primary), the frame of an animation; page_not_found past the last',
    ),
    density: integer('density', 1, 2400, 'DPI an SVG or a PDF page is rasterised at (default 72: a pixel per point); bigger means more pixels'),
    watermark: text(
      z.string().regex(/^ast_[0-9a-z]{1,40}$/, 'watermark names an asset of the account (ast_…, POST /v1/assets)'),
      'An asset of the account (POST /v1/assets) laid over the output, last of all operations',
    ),
    watermark_text: text(
      z
        .string()
        .min(1, 'watermark_text is 1–200 characters')
        .max(200, 'watermark_text is 1–200 characters')
        // eslint-disable-next-line no-control-regex -- one line of text: no control characters
        .regex(/^[^\u0000-\u001f]*$/, 'watermark_text is one line of printable text'),
      'Text laid over the output as a watermark instead of an asset (DejaVu Sans), sized and placed as one',
    ),
    watermark_color: colour('watermark_color', 'The colour of watermark_text (default #ffffff)'),
    watermark_position: choice('watermark_position', GRAVITIES, {
      id: 'Gravity',
      aliases: { centre: 'center' },
      description: 'Where the watermark goes (default southeast)',
    }),
    watermark_margin: integer('watermark_margin', 0, 1000, 'Pixels between the watermark and the edges (default 16)'),
    watermark_opacity: decimal('watermark_opacity', 0.05, 1, '0.05–1 (default 0.5)'),
    watermark_size: decimal('watermark_size', 0.01, 1, 'Its width as a share of the output’s, 0.01–1 (default 0.25)'),
    watermark_tiled: flag('watermark_tiled', 'Repeat it over the whole output'),
  } satisfies Record<Exclude<keyof ConversionOptions, 'outputs'>, OptionSpec>;
}

type OptionShape<K extends 'text' | 'json'> = { [Name in keyof ReturnType<typeof optionSpecs>]: ReturnType<typeof optionSpecs>[Name][K] };

function shapes<K extends 'text' | 'json'>(limits: OptionLimits, kind: K): OptionShape<K> {
  return Object.fromEntries(Object.entries(optionSpecs(limits)).map(([name, spec]) => [name, spec[kind]])) as OptionShape<K>;
}

/** Each option as text (form fields, query parameters), output_format required; the others optional. */
export function conversionOptionFields(limits: OptionLimits) {
  const { output_format, ...rest } = shapes(limits, 'text');
  return z.object({ output_format, ...Object.fromEntries(Object.entries(rest).map(([name, schema]) => [name, schema.optional()])) }).strict() as z.ZodObject<
    { output_format: OptionShape<'text'>['output_format'] } & { [K in keyof typeof rest]: z.ZodOptional<(typeof rest)[K]> }
  >;
}

/** Each option as a JSON value, every one optional (a JSON body's, a preset's, a job file's). */
export function conversionOptionsJson(limits: OptionLimits) {
  const all = shapes(limits, 'json');
  return z
    .object(
      Object.fromEntries(Object.entries(all).map(([name, schema]) => [name, schema.optional()])) as { [K in keyof typeof all]: z.ZodOptional<(typeof all)[K]> },
    )
    .strict()
    .meta({ id: 'ConversionOptionsInput', description: 'Conversion options as JSON values, each optional' });
}

/** JSON option values as the text parser reads them. */
export function optionsAsText(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [[name, typeof value === 'string' ? value : JSON.stringify(value)]])),
  );
}

const schemas = new WeakMap<OptionLimits, ReturnType<typeof buildOptionsSchema>>();

/**
 * A conversion's options: each on its own, then together (what the format takes, what goes
 * with what). Built once per limits object (the settings): building the schema costs far
 * more than parsing with it, on every upload.
 */
export function conversionOptionsSchema(limits: OptionLimits) {
  let schema = schemas.get(limits);
  if (!schema) schemas.set(limits, (schema = buildOptionsSchema(limits)));
  return schema;
}

function buildOptionsSchema(limits: OptionLimits) {
  return conversionOptionFields(limits).superRefine((options, ctx) => {
    // What can be known before the image is read: the encoder's own size limit, the pixel
    // count of an exactly-sized output, and options the format does not take. The rest is
    // checked once the input's size is known.
    const format = options.output_format;
    const max = MAX_DIMENSION[format];
    for (const side of ['width', 'height'] as const) {
      const value = options[side];
      if (value !== undefined && value > max) {
        ctx.addIssue({ code: 'custom', path: [side], message: `${side} must be at most ${max} for ${format}` });
      }
    }
    const { width, height } = options;
    if (width !== undefined && height !== undefined && EXACT_FITS.has(options.fit ?? 'cover') && width * height > limits.maxOutputPixels) {
      ctx.addIssue({
        code: 'custom',
        path: ['width'],
        message: `width × height is ${width * height} pixels; the limit is ${limits.maxOutputPixels} (KILN_MAX_OUTPUT_PIXELS)`,
      });
    }
    for (const [name, formats] of Object.entries(ENCODER_OPTIONS)) {
      if ((options as Record<string, unknown>)[name] !== undefined && !formats.includes(format)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `${name} applies to ${formats.join(', ')}, not ${format}` });
      }
    }
    const effortRange = EFFORT_RANGE[format];
    if (options.effort !== undefined && effortRange && (options.effort < effortRange[0] || options.effort > effortRange[1])) {
      ctx.addIssue({ code: 'custom', path: ['effort'], message: `effort for ${format} is ${effortRange[0]} to ${effortRange[1]}` });
    }
    const watermarkFields = (
      ['watermark_position', 'watermark_margin', 'watermark_opacity', 'watermark_size', 'watermark_tiled', 'watermark_color'] as const
    ).filter((name) => options[name] !== undefined);
    const marked = options.watermark !== undefined || options.watermark_text !== undefined;
    if (!marked && watermarkFields.length > 0) {
      ctx.addIssue({ code: 'custom', path: [watermarkFields[0]!], message: `${watermarkFields[0]} applies with watermark or watermark_text` });
    }
    if (options.watermark !== undefined && options.watermark_text !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['watermark_text'], message: 'a watermark is an asset or a text, not both' });
    }
    if (options.watermark_color !== undefined && options.watermark_text === undefined) {
      ctx.addIssue({ code: 'custom', path: ['watermark_color'], message: 'watermark_color applies with watermark_text' });
    }
    if (marked && options.keep_metadata) {
      ctx.addIssue({ code: 'custom', path: ['keep_metadata'], message: 'keep_metadata cannot apply with a watermark (the watermarked image is made anew)' });
    }
    if (options.max_bytes !== undefined && options.lossless) {
      ctx.addIssue({ code: 'custom', path: ['max_bytes'], message: 'max_bytes searches the quality of a lossy encoding; it cannot apply with lossless' });
    }
    const smart = options.position === 'attention' || options.position === 'entropy';
    if (smart && ((options.fit ?? 'cover') !== 'cover' || width === undefined || height === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['position'],
        message: `position ${options.position} is a smart crop: it needs fit=cover with both width and height`,
      });
    }
    if (options.position !== undefined && !smart && !['cover', 'contain'].includes(options.fit ?? 'cover')) {
      ctx.addIssue({ code: 'custom', path: ['position'], message: 'position applies to fit=cover and fit=contain' });
    }
  });
}

/** Every option's name, as forms, queries and JSON jobs take them. */
export const OPTION_NAMES = Object.keys(conversionOptionFields({ maxOutputDimension: 1, maxOutputPixels: 1 }).shape) as Array<keyof ConversionOptions>;

function parseOne(raw: Record<string, string>, limits: OptionLimits): { ok: true; options: ConversionOptions } | { ok: false; problems: FieldProblem[] } {
  const result = conversionOptionsSchema(limits).safeParse(raw);
  if (result.success) {
    const options = Object.fromEntries(Object.entries(result.data).filter(([, v]) => v !== undefined));
    return { ok: true, options: options as unknown as ConversionOptions };
  }
  return { ok: false, problems: fieldProblems(result.error, 'option') };
}

/**
 * A conversion's options from its fields (text, as forms send them). With `outputs` (a
 * JSON array of objects, up to `maxOutputs`), each entry is one output: the other fields
 * under the entry's own, each output checked on its own and its problems named
 * `outputs[i].<field>`.
 */
export function parseConversionOptions(
  raw: Record<string, string>,
  limits: OptionLimits,
): { ok: true; options: ConversionOptions } | { ok: false; problems: FieldProblem[] } {
  const { [OUTPUTS_FIELD]: outputsText, ...shared } = raw;
  if (outputsText === undefined) return parseOne(shared, limits);
  const refuse = (message: string) => ({ ok: false as const, problems: [{ field: OUTPUTS_FIELD, message }] });
  const max = limits.maxOutputs ?? 1;
  let entries: unknown;
  try {
    entries = JSON.parse(outputsText);
  } catch {
    return refuse('outputs must be a JSON array of objects, one per output');
  }
  if (!Array.isArray(entries) || entries.length === 0) return refuse('outputs must be a JSON array of objects, one per output');
  if (entries.length > max) return refuse(`at most ${max} outputs (KILN_MAX_OUTPUTS)`);
  const outputs: ConversionOptions[] = [];
  const problems: FieldProblem[] = [];
  entries.forEach((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push({ field: `outputs[${index}]`, message: 'each output is a JSON object of options' });
      return;
    }
    const own = Object.fromEntries(Object.entries(entry).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]));
    if (OUTPUTS_FIELD in own || 'preset' in own) {
      problems.push({ field: `outputs[${index}]`, message: 'an output takes options, not outputs or a preset (a preset applies to them all)' });
      return;
    }
    const parsed = parseOne({ ...shared, ...own }, limits);
    if (parsed.ok) outputs.push(parsed.options);
    else problems.push(...parsed.problems.map((p) => ({ ...p, field: `outputs[${index}]${p.field ? `.${p.field}` : ''}` })));
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, options: { ...outputs[0]!, outputs } };
}

/** Options as a preset keeps them: any of them (each checked on its own), as text, the way forms send them. */
export function presetOptionsSchema(limits: OptionLimits) {
  return conversionOptionFields(limits).partial();
}

/** The field that names a preset beside the options. */
export const PRESET_FIELD = 'preset';

/**
 * Option fields with the named preset under them: the preset's values first, each field
 * given explicitly over it. Answers the fields without `preset`, or the problem.
 */
export function withPreset(
  fields: Record<string, string>,
  presets: ReadonlyMap<string, Record<string, string>>,
): { ok: true; fields: Record<string, string> } | { ok: false; problems: FieldProblem[] } {
  const { [PRESET_FIELD]: name, ...explicit } = fields;
  if (name === undefined) return { ok: true, fields: explicit };
  const preset = presets.get(name);
  if (!preset) return { ok: false, problems: [{ field: PRESET_FIELD, message: `no preset named ${JSON.stringify(name.slice(0, 64))}; see GET /v1/presets` }] };
  return { ok: true, fields: { ...preset, ...explicit } };
}
