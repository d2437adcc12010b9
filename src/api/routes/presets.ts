import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { presetOptionsSchema } from '../../convert/options.js';
import { countPresets, createPreset, deletePreset, findPreset, listPresets, replacePresetOptions } from '../../db/presets.js';
import type { Preset } from '../../db/schema.js';
import { fieldProblems } from '../../validation.js';
import { checkAssets, invalid } from '../../intake/options.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import type * as contract from '../contract/schemas.js';
import { idempotentJson } from '../idempotency.js';
import { parseBody, readJsonBody } from '../json-body.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../../problem.js';

/** Presets: named sets of conversion options an account keeps, used as `preset=<name>`. */

const PRESET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const optionValue = z.union([z.string(), z.number(), z.boolean()]);

export const presetBody = z
  .object({
    name: z.string().regex(PRESET_NAME, 'name is 1–64 of a-z, 0-9, . _ - (starting with a letter or digit)'),
    options: z
      .record(z.string(), optionValue)
      .describe('Any conversion options (output_format included or not), each checked on its own; a request’s own fields override them'),
  })
  .strict();

export const presetOptionsBody = presetBody.pick({ options: true });

function presetNotFound(name: string): ApiError {
  return new ApiError(404, 'preset_not_found', `no preset named ${JSON.stringify(name.slice(0, 64))}`);
}

function presentPreset(preset: Preset): z.input<typeof contract.Preset> {
  return {
    object: 'preset',
    id: preset.id,
    name: preset.name,
    options: preset.options,
    created_at: preset.created_at.toISOString(),
    updated_at: preset.updated_at.toISOString(),
  };
}

export function presetRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

  /**
   * Options as stored: text, as forms send them, each checked on its own (the combination is
   * checked where it is used), a watermark the account's asset.
   */
  async function checkedOptions(accountId: string, options: Record<string, string | number | boolean>): Promise<Record<string, string>> {
    const text = Object.fromEntries(Object.entries(options).map(([name, value]) => [name, String(value)]));
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

  router.post(
    '/v1/presets',
    idempotentJson(deps, async (ctx, body) => {
      const input = parseBody(presetBody, body);
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
  );

  router.get('/v1/presets', async (ctx) => {
    const page = readPage(ctx.query);
    const rows = await listPresets(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, presentPreset);
  });

  router.get('/v1/presets/:name', async (ctx) => {
    const name = nameOf(ctx);
    const preset = await findPreset(db, accountOf(ctx).id, name);
    if (!preset) throw presetNotFound(name);
    ctx.body = presentPreset(preset);
  });

  router.put('/v1/presets/:name', async (ctx) => {
    const name = nameOf(ctx);
    const { options } = parseBody(presetOptionsBody, await readJsonBody(ctx));
    const accountId = accountOf(ctx).id;
    const preset = await replacePresetOptions(db, accountId, name, await checkedOptions(accountId, options));
    if (!preset) throw presetNotFound(name);
    ctx.body = presentPreset(preset);
  });

  router.delete('/v1/presets/:name', async (ctx) => {
    const name = nameOf(ctx);
    if (!(await deletePreset(db, accountOf(ctx).id, name))) throw presetNotFound(name);
    ctx.status = 204;
  });

  return router;
}
