import type { Kysely } from 'kysely';
import type { OptionLimits } from '../convert/options.js';
import { conversionOptionsJson, optionsAsText, OUTPUTS_FIELD, parseConversionOptions, PRESET_FIELD, withPreset } from '../convert/options.js';
import { missingAssets } from '../db/assets.js';
import { presetsNamed } from '../db/presets.js';
import type { Database } from '../db/schema.js';
import type { ConversionOptions } from '../model/conversion-options.js';
import { ApiError } from '../problem.js';
import { fieldProblems, type FieldProblem } from '../validation.js';

/** One set of option fields to resolve: text, as forms send them. */
export interface OptionFields {
  fields: Record<string, string>;
  /** Where its problems are reported, e.g. `inputs[2].options`; absent: at the top. */
  at?: string;
  /** Whether it may ask for several outputs (`outputs`): a single conversion may, a job's file may not. */
  renditions: boolean;
}

/** Refuses a request whose fields have problems: 400 with `code` and one entry per field. */
export function invalid(code: string, problems: FieldProblem[]): ApiError {
  return new ApiError(400, code, problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '), { errors: problems });
}

const place = (at: string | undefined, field: string): string => (at ? `${at}${field ? `.${field}` : ''}` : field);

/**
 * Options given as a JSON object (a preset's, a JSON job's, a file's own), each of its JSON
 * type (400 invalid_options naming each that is not, under `at`), as the text the option
 * parser reads.
 */
export function jsonOptionsAsText(limits: OptionLimits, value: unknown, at?: string): Record<string, string> {
  const parsed = conversionOptionsJson(limits).safeParse(value ?? {});
  if (!parsed.success)
    throw invalid(
      'invalid_options',
      fieldProblems(parsed.error, 'option').map((p) => ({ ...p, field: place(at, p.field) })),
    );
  return optionsAsText(parsed.data);
}

/** The watermark assets the options name, where each is named. */
function namedAssets(options: ConversionOptions, at: string | undefined): Array<{ field: string; id: string }> {
  const outputs = options.outputs ?? [options];
  return outputs.flatMap((output, index) =>
    output.watermark ? [{ field: place(at, options.outputs ? `outputs[${index}].watermark` : 'watermark'), id: output.watermark }] : [],
  );
}

/**
 * Every asset named in `named` must be one of the account's (400 invalid_options naming
 * each that is not). Asserted again where a converter reads it: it finds assets only
 * through the account that owns the conversion.
 */
export async function checkAssets(db: Kysely<Database>, accountId: string, named: Array<{ field: string; id: string }>): Promise<void> {
  const missing = new Set(await missingAssets(db, accountId, [...new Set(named.map((entry) => entry.id))]));
  const problems = named
    .filter((entry) => missing.has(entry.id))
    .map(({ field, id }) => ({ field, message: `no asset ${id}; upload one with POST /v1/assets` }));
  if (problems.length > 0) throw invalid('invalid_options', problems);
}

/**
 * A conversion's options from each set of fields: the preset it names under them (the
 * account's), each option parsed and checked with the others, and every asset an option
 * names checked against the account. Every problem of every set is reported at once,
 * named by its place (400 invalid_options).
 */
export async function resolveOptions(
  db: Kysely<Database>,
  limits: OptionLimits,
  accountId: string,
  requests: readonly OptionFields[],
): Promise<ConversionOptions[]> {
  const names = [...new Set(requests.flatMap(({ fields }) => (fields[PRESET_FIELD] === undefined ? [] : [fields[PRESET_FIELD]])))];
  const presets = await presetsNamed(db, accountId, names);
  const problems: FieldProblem[] = [];
  const resolved = requests.map(({ fields, at, renditions }) => {
    if (!renditions && OUTPUTS_FIELD in fields) {
      problems.push({ field: place(at, OUTPUTS_FIELD), message: 'outputs are for a single conversion; each file of a job has one output' });
      return undefined;
    }
    const preset = withPreset(fields, presets);
    const parsed = preset.ok ? parseConversionOptions(preset.fields, limits) : preset;
    if (parsed.ok) return parsed.options;
    problems.push(...parsed.problems.map((p) => ({ ...p, field: place(at, p.field) })));
    return undefined;
  });
  if (problems.length > 0) throw invalid('invalid_options', problems);
  const options = resolved as ConversionOptions[];
  await checkAssets(
    db,
    accountId,
    options.flatMap((option, index) => namedAssets(option, requests[index]!.at)),
  );
  return options;
}
