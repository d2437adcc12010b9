import { z } from 'zod';
import { fieldProblems, type FieldProblem } from '../validation.js';
import { FIT_MODES, GRAVITIES, MAX_DIMENSION, OUTPUT_FORMATS, POSITIONS, type FitMode, type OutputFormat } from '../model/formats.js';
import type { ConversionOptions } from '../model/conversion-options.js';

/** Form fields and query parameters arrive as strings; numbers are parsed strictly (no "12px", no "1e3"). */
const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const decimal = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+(\.\d+)?$/, `${name} must be a number such as 1.5`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const flag = (name: string) =>
  z
    .string()
    .transform((value) => value.toLowerCase())
    .pipe(z.enum(['true', 'false', '1', '0'], { message: `${name} must be true or false` }))
    .transform((value) => value === 'true' || value === '1');

/** `true` for a default strength, or a number in range. */
const flagOrNumber = (name: string, fallback: number, min: number, max: number) =>
  z.string().transform((value, ctx) => {
    const lower = value.toLowerCase();
    if (lower === 'true' || lower === '1') return fallback;
    const number = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!(number >= min && number <= max)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be true or a number from ${min} to ${max}` });
      return z.NEVER;
    }
    return number;
  });

const wholeList = (name: string, counts: number[], max: number) =>
  z.string().transform((value, ctx) => {
    const parts = value.split(',').map((part) => part.trim());
    if (!counts.includes(parts.length) || parts.some((part) => !/^\d+$/.test(part) || Number(part) > max)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be ${counts.join(' or ')} whole numbers from 0 to ${max}, separated by commas` });
      return z.NEVER;
    }
    return parts.map(Number);
  });

/** `#rgb`, `#rrggbb` or `#rrggbbaa`. */
const colour = z
  .string()
  .regex(/^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i, 'background must be a colour as #rgb, #rrggbb or #rrggbbaa')
  .transform((value) => value.toLowerCase());

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
  lossless: ['webp', 'avif'],
  progressive: ['jpeg', 'png'],
  chroma_subsampling: ['jpeg', 'avif'],
  palette: ['png'],
  mozjpeg: ['jpeg'],
  max_bytes: ['jpeg', 'webp', 'avif'],
  effort: ['webp', 'avif', 'png', 'gif'],
};
const EFFORT_RANGE: Partial<Record<OutputFormat, [number, number]>> = { webp: [0, 6], avif: [0, 9], png: [1, 10], gif: [1, 10] };

/** The largest max_bytes asked for: no output is bigger than an upload may be. */
const MAX_BYTES_CEILING = 1 << 30;
const MAX_PADDING = 10_000;

/** Each option on its own (for presets, which may leave any of them out). */
export function conversionOptionFields(limits: OptionLimits) {
  return z
    .object({
      output_format: z.preprocess(
        (value) => (typeof value === 'string' ? (FORMAT_ALIASES[value.toLowerCase()] ?? value.toLowerCase()) : value),
        z.enum(OUTPUT_FORMATS, {
          error: (issue) => (issue.input === undefined ? 'output_format is required' : `output_format must be one of ${OUTPUT_FORMATS.join(', ')}`),
        }),
      ),
      quality: wholeNumber('quality', 1, 100).optional(),
      width: wholeNumber('width', 1, limits.maxOutputDimension).optional(),
      height: wholeNumber('height', 1, limits.maxOutputDimension).optional(),
      fit: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.toLowerCase() : value),
          z.enum(FIT_MODES, { message: `fit must be one of ${FIT_MODES.join(', ')}` }),
        )
        .optional(),
      position: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.toLowerCase().replace('centre', 'center') : value),
          z.enum(POSITIONS, { message: `position must be one of ${POSITIONS.join(', ')}` }),
        )
        .optional()
        .describe(
          'Where cover crops (or contain places the image): a side or corner, center, or smart crop: attention (salient detail), entropy (busiest area)',
        ),
      enlarge: flag('enlarge').optional().describe('Allow an output larger than the input (default false: never upscale)'),
      crop: wholeList('crop', [4], limits.maxOutputDimension * 4)
        .refine((values) => values[2]! > 0 && values[3]! > 0, 'crop width and height must be at least 1')
        .transform(([left, top, width, height]) => ({ left: left!, top: top!, width: width!, height: height! }))
        .optional()
        .describe('left,top,width,height: a rectangle of the upright input, taken before anything else'),
      trim: flagOrNumber('trim', 10, 1, 255)
        .optional()
        .describe('Remove borders of (near) the top-left pixel’s colour; true, or the threshold of difference 1–255 (default 10)'),
      rotate: decimal('rotate', -360, 360).optional().describe('Degrees clockwise, any angle; the corners are filled with background'),
      background: colour
        .optional()
        .describe(
          'Fills rotate’s corners and extend’s padding, and replaces transparency for formats without alpha (default white, transparent where the format keeps alpha)',
        ),
      flip: flag('flip').optional().describe('Mirror top to bottom'),
      flop: flag('flop').optional().describe('Mirror left to right'),
      extend: wholeList('extend', [1, 4], MAX_PADDING)
        .transform((values) =>
          values.length === 1
            ? { top: values[0]!, right: values[0]!, bottom: values[0]!, left: values[0]! }
            : { top: values[0]!, right: values[1]!, bottom: values[2]!, left: values[3]! },
        )
        .optional()
        .describe('Padding in pixels: one number for all sides, or top,right,bottom,left'),
      blur: decimal('blur', 0.3, 100).optional().describe('Gaussian blur, sigma 0.3–100'),
      sharpen: flagOrNumber('sharpen', 1, 0.01, 10).optional().describe('true, or sigma 0.01–10'),
      brightness: decimal('brightness', 0, 10).optional().describe('Multiplier (1 unchanged)'),
      saturation: decimal('saturation', 0, 10).optional().describe('Multiplier (0 grey, 1 unchanged)'),
      hue: decimal('hue', -360, 360).optional().describe('Hue rotation in degrees'),
      grayscale: flag('grayscale').optional(),
      normalize: flag('normalize').optional().describe('Stretch the luminance to the full range'),
      keep_metadata: flag('keep_metadata').optional().describe('Keep EXIF, XMP, IPTC and the ICC profile (default: stripped, colour converted to sRGB)'),
      keep_icc: flag('keep_icc').optional().describe('Keep the input’s ICC profile (and its colours) instead of converting to sRGB'),
      lossless: flag('lossless').optional().describe('webp, avif'),
      effort: wholeNumber('effort', 0, 10).optional().describe('Encoder effort: webp 0–6, avif 0–9 (default KILN_AVIF_EFFORT), png and gif 1–10'),
      progressive: flag('progressive').optional().describe('Progressive JPEG, interlaced PNG'),
      chroma_subsampling: z.enum(['4:2:0', '4:4:4'], { message: 'chroma_subsampling must be 4:2:0 or 4:4:4' }).optional().describe('jpeg, avif'),
      palette: flag('palette').optional().describe('Palette-based PNG (smaller, up to 256 colours; quality sets how many)'),
      mozjpeg: flag('mozjpeg').optional().describe('mozjpeg’s defaults: smaller JPEGs for more CPU'),
      max_bytes: wholeNumber('max_bytes', 100, MAX_BYTES_CEILING)
        .optional()
        .describe(
          'The best quality whose output fits in this many bytes (jpeg, webp, avif; from quality, default 80, downwards); fails with cannot_meet_max_bytes when even quality 1 does not',
        ),
      first_frame: flag('first_frame').optional().describe('Convert an animation’s first frame as a still, even to gif or webp'),
      page: wholeNumber('page', 0, 9999)
        .optional()
        .describe('The page of a multi-page file (TIFF) or the frame of an animation to convert, from 0; page_not_found past the last'),
      density: wholeNumber('density', 1, 2400).optional().describe('DPI an SVG is rasterised at (default 72); bigger means more pixels'),
      watermark: z
        .string()
        .regex(/^ast_[0-9a-z]{1,40}$/, 'watermark names an asset of the account (ast_…, POST /v1/assets)')
        .optional()
        .describe('An asset (POST /v1/assets) laid over the output, last of all operations'),
      watermark_text: z
        .string()
        .min(1, 'watermark_text is 1–200 characters')
        .max(200, 'watermark_text is 1–200 characters')
        // eslint-disable-next-line no-control-regex -- one line of text: no control characters
        .refine((text) => !/[\u0000-\u001f]/.test(text), 'watermark_text is one line of printable text')
        .optional()
        .describe('Text laid over the output as a watermark instead of an asset (DejaVu Sans), sized and placed as one'),
      watermark_color: colour.optional().describe('The colour of watermark_text (default #ffffff)'),
      watermark_position: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.toLowerCase().replace('centre', 'center') : value),
          z.enum(GRAVITIES, { message: `watermark_position must be one of ${GRAVITIES.join(', ')}` }),
        )
        .optional()
        .describe('Where the watermark goes (default southeast)'),
      watermark_margin: wholeNumber('watermark_margin', 0, 1000).optional().describe('Pixels between the watermark and the edges (default 16)'),
      watermark_opacity: decimal('watermark_opacity', 0.05, 1).optional().describe('0.05–1 (default 0.5)'),
      watermark_size: decimal('watermark_size', 0.01, 1).optional().describe('Its width as a share of the output’s, 0.01–1 (default 0.25)'),
      watermark_tiled: flag('watermark_tiled').optional().describe('Repeat it over the whole output'),
    })
    .strict();
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
