import Router from '@koa/router';
import { z } from 'zod';
import type { Account } from '../../db/schema.js';
import { updateRequestWebhookSettings } from '../../db/accounts.js';
import { accountSecrets, rotateAccountSecret } from '../../db/webhook-endpoints.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import type * as contract from '../contract/schemas.js';
import { idempotentOptionalJson } from '../idempotency.js';
import { readJsonBody, readOptionalJsonBody, parseBody } from '../json-body.js';
import {
  checkSignature,
  checkTemplate,
  presentSignature,
  previewEvent,
  previewRequest,
  readPreviewBody,
  signatureBody,
  templateField,
} from '../receiver-format.js';
import { readRotateBody, checkCustomHeaders, checkHeadersBesideSignature } from '../webhook-fields.js';
import { REQUEST_EVENT_TYPES } from '../../intake/request-webhook.js';
import { liveUntil } from './webhook-endpoints.js';

/**
 * Deliveries to a conversion's or job's own `webhook_url`: the account's signing secret,
 * and the settings that shape those requests for the receiver (as an endpoint's do).
 */

export const requestWebhookSettingsBody = z
  .object({
    signature: signatureBody.nullable(),
    template: templateField,
    headers: z.record(z.string(), z.string()).describe("Sent with every delivery to a webhook_url, beside Kiln's own (whose names it may not use)"),
  })
  .partial()
  .strict();

function presentSettings(account: Account): z.input<typeof contract.RequestWebhookSettings> {
  return { signature: presentSignature(account.webhook_signature), template: account.webhook_template, headers: account.webhook_headers };
}

export function requestWebhookRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

  router.get('/v1/webhooks/secret', (ctx) => {
    const account = accountOf(ctx);
    ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
  });

  router.post(
    '/v1/webhooks/secret/rotate',
    idempotentOptionalJson(deps, async (ctx, body) => {
      const current = accountOf(ctx);
      const rotation = readRotateBody(body, current.webhook_signature !== null);
      const account = await rotateAccountSecret(db, current.id, rotation.overlapSeconds ?? config.webhookSecretOverlapSeconds, rotation.secret);
      ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
    }),
  );

  router.get('/v1/webhooks/settings', (ctx) => {
    ctx.body = presentSettings(accountOf(ctx));
  });

  router.patch('/v1/webhooks/settings', async (ctx) => {
    const account = accountOf(ctx);
    const input = parseBody(requestWebhookSettingsBody, await readJsonBody(ctx));
    const values: { webhook_signature?: string | null; webhook_template?: string | null; webhook_headers?: string } = {};
    const signature = input.signature === undefined ? account.webhook_signature : checkSignature(input.signature);
    const headers = input.headers === undefined ? account.webhook_headers : checkCustomHeaders(input.headers);
    checkHeadersBesideSignature(headers, signature);
    if (input.signature !== undefined) values.webhook_signature = signature ? JSON.stringify(signature) : null;
    if (input.headers !== undefined) values.webhook_headers = JSON.stringify(headers);
    if (input.template !== undefined) values.webhook_template = await checkTemplate(deps, input.template, REQUEST_EVENT_TYPES);
    ctx.body = presentSettings(await updateRequestWebhookSettings(db, account, values));
  });

  router.post('/v1/webhooks/settings/preview', async (ctx) => {
    const account = accountOf(ctx);
    const input = readPreviewBody(await readOptionalJsonBody(ctx));
    const event = await previewEvent(db, account.id, input, ['conversion.completed']);
    ctx.body = await previewRequest(deps, event, {
      url: null,
      secrets: accountSecrets(account),
      headers: account.webhook_headers,
      signature: account.webhook_signature,
      template: input.template === undefined ? account.webhook_template : input.template,
    });
  });

  return router;
}
