import type { Context } from 'koa';
import { z } from 'zod';
import { conversionOptionsJson, presetOptionsSchema, type OptionLimits } from '../../convert/options.js';
import { countPresets, createPreset, deletePreset, findPreset, listPresets, replacePresetOptions } from '../../db/presets.js';
import type { Preset } from '../../db/schema.js';
import { fieldProblems } from '../../validation.js';
import { checkAssets, invalid, jsonOptionsAsText } from '../../intake/options.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, jsonBody, linksTo, operation, pageQuery, type Operation } from '../operation.js';
import { idempotentJson } from '../idempotency.js';
import { parseBody, readJsonBody } from '../json-body.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';

/** Presets: named sets of conversion options an account keeps, used as `preset=<name>`. */

const PRESET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const presetName = z.string().regex(PRESET_NAME, 'name is 1–64 of a-z, 0-9, . _ - (starting with a letter or digit)');

/** The body as read: options are checked on their own (400 invalid_options), the rest here (400 invalid_body). */
const presetEnvelope = z.object({ name: presetName, options: z.record(z.string(), z.unknown()) }).strict();
const presetOptionsEnvelope = presetEnvelope.pick({ options: true });

/** The body as documented: each option of its JSON type. */
function presetBodies(limits: OptionLimits) {
  const options = conversionOptionsJson(limits).describe(
    'Any conversion options (output_format included or not), each checked on its own; a request’s own fields override them',
  );
  const create = z.object({ name: presetName, options }).strict();
  return { create, replace: create.pick({ options: true }) };
}

function presetNotFound(name: string): ApiError {
  return new ApiError(404, 'preset_not_found', `no preset named ${JSON.stringify(name.slice(0, 64))}`);
}

function presentPreset(preset: Preset): z.input<typeof s.Preset> {
  return {
    object: 'preset',
    id: preset.id,
    name: preset.name,
    options: preset.options,
    created_at: preset.created_at.toISOString(),
    updated_at: preset.updated_at.toISOString(),
  };
}

export function presetOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  const bodies = presetBodies(config);
  const nameParam = z.object({ name: presetName.describe('The preset’s name') });

  /**
   * Options as stored: text, as forms send them, each checked on its own (the combination is
   * checked where it is used), a watermark the account's asset.
   */
  async function checkedOptions(accountId: string, options: unknown): Promise<Record<string, string>> {
    const text = jsonOptionsAsText(config, options, 'options');
    const parsed = presetOptionsSchema(config).safeParse(text);
    if (!parsed.success) {
      throw invalid(
        'invalid_options',
        fieldProblems(parsed.error, 'option').map((p) => ({ ...p, field: `options${p.field ? `.${p.field}` : ''}` })),
      );
    }
    if (parsed.data.watermark !== undefined) await checkAssets(db, accountId, [{ field: 'options.watermark', id: parsed.data.watermark }]);
    return text;
  }

  const nameOf = (ctx: Context): string => {
    const name = (ctx.params as { name: string }).name;
    if (!PRESET_NAME.test(name)) throw presetNotFound(name);
    return name;
  };

  return [
    operation({
      operationId: 'createPreset',
      method: 'post',
      path: '/v1/presets',
      summary: 'Keep a named set of conversion options (use it as preset=<name>)',
      tag: 'Presets',
      auth: 'api_key',
      idempotent: true,
      body: jsonBody(bodies.create),
      answers: {
        201: jsonAnswer('The preset', s.Preset, {
          headers: { Location: 'The preset' },
          links: linksTo(['getPreset', 'replacePreset', 'deletePreset'], 'preset', { parameter: 'name', field: 'name' }),
        }),
      },
      problems: { 400: ['invalid_options'], 409: ['preset_exists', 'preset_limit_reached'] },
      handler: idempotentJson(deps, async (ctx, body) => {
        const input = parseBody(presetEnvelope, body);
        const accountId = accountOf(ctx).id;
        const options = await checkedOptions(accountId, input.options);
        if ((await countPresets(db, accountId)) >= config.maxPresets) {
          throw new ApiError(409, 'preset_limit_reached', `an account keeps at most ${config.maxPresets} presets (KILN_MAX_PRESETS)`);
        }
        const preset = await createPreset(db, accountId, input.name, options);
        if (!preset) throw new ApiError(409, 'preset_exists', `a preset named ${input.name} exists; PUT /v1/presets/${input.name} replaces its options`);
        ctx.status = 201;
        ctx.set('Location', `/v1/presets/${preset.name}`);
        ctx.body = presentPreset(preset);
      }),
    }),
    operation({
      operationId: 'listPresets',
      method: 'get',
      path: '/v1/presets',
      summary: "The account's presets",
      tag: 'Presets',
      auth: 'api_key',
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of presets', s.page(s.Preset, 'PresetPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listPresets(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, presentPreset);
      },
    }),
    operation({
      operationId: 'getPreset',
      method: 'get',
      path: '/v1/presets/{name}',
      summary: 'One preset',
      tag: 'Presets',
      auth: 'api_key',
      params: nameParam,
      answers: { 200: jsonAnswer('The preset', s.Preset) },
      problems: { 404: ['preset_not_found'] },
      handler: async (ctx) => {
        const name = nameOf(ctx);
        const preset = await findPreset(db, accountOf(ctx).id, name);
        if (!preset) throw presetNotFound(name);
        ctx.body = presentPreset(preset);
      },
    }),
    operation({
      operationId: 'replacePreset',
      method: 'put',
      path: '/v1/presets/{name}',
      summary: "Replace a preset's options",
      tag: 'Presets',
      auth: 'api_key',
      params: nameParam,
      body: jsonBody(bodies.replace),
      answers: { 200: jsonAnswer('The preset', s.Preset) },
      problems: { 400: ['invalid_options'], 404: ['preset_not_found'] },
      handler: async (ctx) => {
        const name = nameOf(ctx);
        const { options } = parseBody(presetOptionsEnvelope, await readJsonBody(ctx));
        const accountId = accountOf(ctx).id;
        const preset = await replacePresetOptions(db, accountId, name, await checkedOptions(accountId, options));
        if (!preset) throw presetNotFound(name);
        ctx.body = presentPreset(preset);
      },
    }),
    operation({
      operationId: 'deletePreset',
      method: 'delete',
      path: '/v1/presets/{name}',
      summary: 'Delete a preset (conversions made with it keep their options)',
      tag: 'Presets',
      auth: 'api_key',
      params: nameParam,
      answers: { 204: { description: 'Deleted' } },
      problems: { 404: ['preset_not_found'] },
      handler: async (ctx) => {
        const name = nameOf(ctx);
        if (!(await deletePreset(db, accountOf(ctx).id, name))) throw presetNotFound(name);
        ctx.status = 204;
      },
    }),
  ];
}
