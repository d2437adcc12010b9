import { z } from 'zod';
import { conversionOptionsJson, OUTPUTS_FIELD, PRESET_FIELD, type OptionLimits } from '../convert/options.js';
import { SOURCE_FIELD } from '../intake/conversions.js';
import { jsonOptionsAsText, invalid } from '../intake/options.js';
import { MAX_METADATA_BYTES, MAX_URL_LENGTH, REQUEST_EVENT_TYPES, TAG_PATTERN } from '../intake/request-webhook.js';
import { binary } from './operation.js';
import { parseBody } from './json-body.js';

/**
 * The shapes a conversion request arrives in, as the OpenAPI document shows them and as a
 * JSON body is read: form fields and query parameters are text (numbers as digits, flags as
 * true/false); a JSON body takes JSON types. Both become the same text fields for the intake.
 */

const url = (what: string) => z.string().max(MAX_URL_LENGTH).meta({ format: 'uri' }).describe(what);
const presetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
  .describe('A preset of the account (GET /v1/presets): its options under the ones given here');
const tag = z.string().regex(TAG_PATTERN).describe('Your label, echoed in events and filterable (1–64 letters, digits, . _ : -)');
const sourceUrl = url('An http(s) URL the original is fetched from, instead of a file');
const EVENT_CHOICES = REQUEST_EVENT_TYPES.join('|').replaceAll('.', '\\.');
const webhookUrl = url('Where this one’s events are sent too (signed with the account secret), beside the account’s endpoints');

/**
 * The webhook fields as forms and queries send them: events comma-separated; metadata as
 * JSON text in a query (a multipart form may send it as a JSON part instead).
 */
export const webhookFormFields = {
  webhook_url: webhookUrl.optional(),
  webhook_events: z
    .string()
    .regex(new RegExp(`^\\s*(${EVENT_CHOICES})\\s*(,\\s*(${EVENT_CHOICES})\\s*)*$`))
    .optional()
    .describe('The event types webhook_url gets, separated by commas (default: all)'),
  webhook_metadata: z
    .string()
    .max(MAX_METADATA_BYTES)
    .optional()
    .describe(`A JSON object as text (at most ${MAX_METADATA_BYTES} bytes), echoed in every event`),
  tag: tag.optional(),
};

/** The webhook fields of a JSON body. */
export const webhookJsonFields = {
  webhook_url: webhookUrl.optional(),
  webhook_events: z
    .array(z.enum(REQUEST_EVENT_TYPES).meta({ id: 'RequestEventType' }))
    .min(1)
    .optional()
    .describe('The event types webhook_url gets (default: all)'),
  webhook_metadata: z.record(z.string(), z.unknown()).optional().describe(`Echoed in every event (at most ${MAX_METADATA_BYTES} bytes as JSON)`),
  tag: tag.optional(),
};

/**
 * The conversion fields of a multipart form or a raw upload's query: each option of its
 * type (OpenAPI writes them as text, as Kiln reads them: digits, true/false), the rest
 * text; `outputs` and `webhook_metadata` are JSON text.
 */
export function conversionFormFields(limits: OptionLimits) {
  return {
    ...conversionOptionsJson(limits).shape,
    [PRESET_FIELD]: presetName.optional(),
    [OUTPUTS_FIELD]: z
      .string()
      .optional()
      .describe(`Several outputs of one upload: a JSON array of 1–${limits.maxOutputs ?? 1} option objects, each over the other fields (KILN_MAX_OUTPUTS)`),
    [SOURCE_FIELD]: sourceUrl.optional(),
    ...webhookFormFields,
  };
}

export function conversionBodies(limits: OptionLimits) {
  const form = conversionFormFields(limits);
  const { [SOURCE_FIELD]: _source, ...withoutSource } = form;
  const image = binary('The image (as the raw body, its own image/* type is taken too)');
  return {
    // Exactly one of file and source_url: `dependentSchemas` (a file, then no URL) and an
    // `anyOf` inside `allOf` (one of the two). Generators give up on a multipart object with a
    // `oneOf` or `anyOf` of its own, and schemathesis cannot judge bytes under `if`/`then`.
    multipart: z
      .object({ file: image.optional(), ...form })
      .strict()
      .meta({
        id: 'ConversionForm',
        description: 'The image as `file`, or `source_url` instead (one of the two); the options as fields',
        dependentSchemas: { file: { properties: { [SOURCE_FIELD]: false } } },
        allOf: [{ anyOf: [{ required: ['file'] }, { required: [SOURCE_FIELD] }] }],
      } as never),
    raw: image,
    json: z
      .object({
        [SOURCE_FIELD]: sourceUrl,
        filename: z.string().min(1).max(255).optional().describe('The original’s name (default: the last segment of its URL)'),
        [PRESET_FIELD]: presetName.optional(),
        [OUTPUTS_FIELD]: z
          .array(conversionOptionsJson(limits))
          .min(1)
          .max(limits.maxOutputs ?? 1)
          .optional()
          .describe('Several outputs: option objects, each over the other fields (KILN_MAX_OUTPUTS)'),
        ...conversionOptionsJson(limits).shape,
        ...webhookJsonFields,
      })
      .strict()
      .describe('An image Kiln fetches from source_url, with the options'),
    query: z
      .object({ filename: z.string().optional().describe('With the raw image as the body: its name (kept to 255 characters)'), ...withoutSource })
      .describe('With the raw image as the body: the options as query parameters'),
  };
}

/** A JSON body's envelope as read (options apart: they are checked on their own, as 400 invalid_options). */
const jsonEnvelope = z
  .object({
    [SOURCE_FIELD]: z.string(),
    filename: z.string().min(1).max(255),
    [PRESET_FIELD]: z.string(),
    [OUTPUTS_FIELD]: z.array(z.record(z.string(), z.unknown())).min(1),
    webhook_url: z.string(),
    webhook_events: z.array(z.string()),
    webhook_metadata: z.record(z.string(), z.unknown()),
    tag: z.string(),
  })
  .partial();

/**
 * A conversion's JSON body as the text fields a form would send: the options of their JSON
 * types (400 invalid_options, each named), the rest as the document says (400 invalid_body).
 */
export function jsonConversionFields(limits: OptionLimits, body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('invalid_body', [{ field: '', message: 'the body must be a JSON object' }]);
  const envelopeNames = new Set(Object.keys(jsonEnvelope.shape));
  const given = body as Record<string, unknown>;
  const envelope = parseBody(jsonEnvelope, Object.fromEntries(Object.entries(given).filter(([name]) => envelopeNames.has(name))));
  const options = jsonOptionsAsText(limits, Object.fromEntries(Object.entries(given).filter(([name]) => !envelopeNames.has(name))));
  const outputs = envelope.outputs?.map((output, index) => jsonOptionsAsText(limits, output, `outputs[${index}]`));
  const text: Record<string, string | undefined> = {
    ...options,
    [SOURCE_FIELD]: envelope.source_url,
    filename: envelope.filename,
    [PRESET_FIELD]: envelope.preset,
    [OUTPUTS_FIELD]: outputs && JSON.stringify(outputs),
    webhook_url: envelope.webhook_url,
    webhook_events: envelope.webhook_events?.join(','),
    webhook_metadata: envelope.webhook_metadata && JSON.stringify(envelope.webhook_metadata),
    tag: envelope.tag,
  };
  return Object.fromEntries(Object.entries(text).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** The fields of a job request that are neither options nor webhook fields, as a form sends them. */
const jobFormFields = {
  inputs: z.string().optional().describe('A JSON array, one object per file in order: `{"options": {...}}` over the shared options for that file'),
  concurrency: z.number().int().min(1).optional().describe('Files converting at once: 1 to KILN_JOB_CONCURRENCY (its default)'),
};

/** A JSON job's input: an earlier conversion's original, or a URL. */
function jobInput(limits: OptionLimits) {
  return z
    .object({
      conversion_id: z
        .string()
        .regex(/^cnv_[0-9a-z]{23}$/)
        .optional()
        .describe('An earlier conversion of this account (cnv_…): its original file is the input'),
      [SOURCE_FIELD]: url('Or an http(s) URL the file’s workflow fetches the input from').optional(),
      filename: z.string().min(1).max(255).optional().describe("The input's name in this job (default: the source's)"),
      options: conversionOptionsJson(limits)
        .extend({ [PRESET_FIELD]: presetName.optional() })
        .optional()
        .describe("Options for this file alone, over the job's shared ones (its own preset replaces the job's)"),
    })
    .strict()
    .meta({ oneOf: [{ required: ['conversion_id'] }, { required: [SOURCE_FIELD] }] } as never);
}

export function jobBodies(limits: OptionLimits) {
  const { [OUTPUTS_FIELD]: _outputs, [SOURCE_FIELD]: _source, ...form } = conversionFormFields(limits);
  return {
    multipart: z
      .object({ file: z.array(binary('An image')).min(1).describe('The images, one `file` field each, in order'), ...form, ...jobFormFields })
      .strict(),
    json: z
      .object({
        ...conversionOptionsJson(limits).shape,
        [PRESET_FIELD]: presetName.optional(),
        inputs: z.array(jobInput(limits)).min(1).describe('The files, in order'),
        concurrency: z.number().int().min(1).optional().describe('Files converting at once: 1 to KILN_JOB_CONCURRENCY (its default)'),
        ...webhookJsonFields,
      })
      .strict()
      .describe('A job of files Kiln already has (earlier conversions’ originals) or fetches (URLs); the shared options as JSON values'),
  };
}

const jobEnvelope = z.object({
  [PRESET_FIELD]: z.string().optional(),
  inputs: z
    .array(
      z
        .object({
          conversion_id: z.string().optional(),
          [SOURCE_FIELD]: z.string().optional(),
          filename: z.string().min(1).max(255).optional(),
          options: z.unknown().optional(),
        })
        .strict()
        .refine(
          (input) => (input.conversion_id === undefined) !== (input[SOURCE_FIELD] === undefined),
          'each input names its source by conversion_id or by source_url, one of them',
        ),
    )
    .min(1, 'inputs must name at least one input'),
  concurrency: z.number().int().optional(),
  webhook_url: z.string().optional(),
  webhook_events: z.array(z.string()).optional(),
  webhook_metadata: z.record(z.string(), z.unknown()).optional(),
  tag: z.string().optional(),
});

/** A job file's own options (JSON), its own `preset` among them. */
function fileOptionsAsText(limits: OptionLimits, options: unknown, at: string): Record<string, string> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return jsonOptionsAsText(limits, options, at);
  const { [PRESET_FIELD]: preset, ...rest } = options as Record<string, unknown>;
  if (preset !== undefined && typeof preset !== 'string')
    throw invalid('invalid_options', [{ field: `${at}.${PRESET_FIELD}`, message: 'preset must be a name' }]);
  const text = jsonOptionsAsText(limits, rest, at);
  return preset === undefined ? text : { ...text, [PRESET_FIELD]: preset };
}

/** A JSON job as the intake reads it: options as text (400 invalid_options, each named), the rest checked here (400 invalid_body). */
export function readJsonJob(limits: OptionLimits, body: unknown) {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('invalid_body', [{ field: '', message: 'the body must be a JSON object' }]);
  const envelopeNames = new Set(Object.keys(jobEnvelope.shape));
  const given = body as Record<string, unknown>;
  const envelope = parseBody(jobEnvelope, Object.fromEntries(Object.entries(given).filter(([name]) => envelopeNames.has(name))));
  const shared = jsonOptionsAsText(limits, Object.fromEntries(Object.entries(given).filter(([name]) => !envelopeNames.has(name))));
  return {
    shared: envelope.preset === undefined ? shared : { ...shared, [PRESET_FIELD]: envelope.preset },
    overrides: envelope.inputs.map((input, index) =>
      input.options === undefined ? undefined : fileOptionsAsText(limits, input.options, `inputs[${index}].options`),
    ),
    inputs: envelope.inputs,
    concurrency: envelope.concurrency,
    webhook: Object.fromEntries(
      Object.entries({
        webhook_url: envelope.webhook_url,
        tag: envelope.tag,
        webhook_metadata: envelope.webhook_metadata && JSON.stringify(envelope.webhook_metadata),
      }).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
    webhookEvents: envelope.webhook_events,
  };
}
