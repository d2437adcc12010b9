import { z } from 'zod';
import type { Account } from '../../db/schema.js';
import { updateRequestWebhookSettings, type RequestWebhookSettingValues } from '../../db/accounts.js';
import { accountSecrets, rotateAccountSecret } from '../../db/webhook-endpoints.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, jsonBody, operation, type Operation } from '../operation.js';
import { idempotentOptionalJson } from '../idempotency.js';
import { readJsonBody, readOptionalJsonBody, parseBody } from '../json-body.js';
import {
  checkSignature,
  checkTemplate,
  presentSignature,
  previewEvent,
  previewRequest,
  PREVIEW_PROBLEMS,
  previewBody,
  readPreviewBody,
  signatureBody,
  templateField,
} from '../receiver-format.js';
import { HEADER_NAME, rateLimitBody, rotateBody, readRotateBody, checkCustomHeaders, checkHeadersBesideSignature } from '../webhook-fields.js';
import { REQUEST_EVENT_TYPES } from '../../intake/request-webhook.js';
import { liveUntil } from './webhook-endpoints.js';

/**
 * Deliveries to a conversion's or job's own `webhook_url`: the account's signing secret,
 * and the settings that shape those requests for the receiver (as an endpoint's do).
 */

const requestWebhookSettingsBody = z
  .object({
    signature: signatureBody.nullable(),
    template: templateField,
    headers: z.record(z.string(), z.string()).describe("Sent with every delivery to a webhook_url, beside Kiln's own (whose names it may not use)"),
    rate_limit: rateLimitBody.describe(
      'Deliveries per second to each webhook_url at most (over it they wait their turn without failing); null: as fast as they come',
    ),
  })
  .partial()
  .strict();

/** As documented: header names as checkCustomHeaders enforces them (naming its own code, invalid_headers). */
const requestWebhookSettingsContract = requestWebhookSettingsBody.extend({
  headers: z
    .record(z.string(), z.string().max(4096))
    .meta({ propertyNames: { pattern: HEADER_NAME.source } })
    .optional()
    .describe("Sent with every delivery to a webhook_url, beside Kiln's own (whose names it may not use)"),
});

function presentSettings(account: Account): z.input<typeof s.RequestWebhookSettings> {
  return {
    signature: presentSignature(account.webhook_signature),
    template: account.webhook_template,
    headers: account.webhook_headers,
    rate_limit: account.webhook_rate_limit,
  };
}

export function requestWebhookOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  return [
    operation({
      operationId: 'getAccountSecret',
      method: 'get',
      path: '/v1/webhooks/secret',
      summary: "The account's signing secret (for webhook_url targets)",
      tag: 'Webhooks',
      auth: 'api_key',
      answers: { 200: jsonAnswer('The secret', s.Secret) },
      handler: (ctx) => {
        const account = accountOf(ctx);
        ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
      },
    }),
    operation({
      operationId: 'rotateAccountSecret',
      method: 'post',
      path: '/v1/webhooks/secret/rotate',
      summary: "Rotate the account's signing secret (optionally to one you bring); the old one signs beside it through the overlap",
      tag: 'Webhooks',
      auth: 'api_key',
      idempotent: true,
      body: jsonBody(rotateBody, false),
      answers: { 200: jsonAnswer('The new secret', s.Secret) },
      problems: { 400: ['invalid_secret'] },
      handler: idempotentOptionalJson(deps, async (ctx, body) => {
        const current = accountOf(ctx);
        const rotation = readRotateBody(body, current.webhook_signature !== null);
        const account = await rotateAccountSecret(db, current.id, rotation.overlapSeconds ?? config.webhookSecretOverlapSeconds, rotation.secret);
        ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
      }),
    }),
    operation({
      operationId: 'getRequestWebhookSettings',
      method: 'get',
      path: '/v1/webhooks/settings',
      summary: 'How deliveries to a per-request webhook_url are formed (extra signature header, template, headers)',
      tag: 'Webhooks',
      auth: 'api_key',
      answers: { 200: jsonAnswer('The settings', s.RequestWebhookSettings) },
      handler: (ctx) => {
        ctx.body = presentSettings(accountOf(ctx));
      },
    }),
    operation({
      operationId: 'updateRequestWebhookSettings',
      method: 'patch',
      path: '/v1/webhooks/settings',
      summary: 'Change how deliveries to a per-request webhook_url are formed',
      tag: 'Webhooks',
      auth: 'api_key',
      body: jsonBody(requestWebhookSettingsContract),
      answers: { 200: jsonAnswer('The settings', s.RequestWebhookSettings) },
      problems: { 400: ['invalid_headers', 'invalid_signature', 'invalid_template'] },
      handler: async (ctx) => {
        const account = accountOf(ctx);
        const input = parseBody(requestWebhookSettingsBody, await readJsonBody(ctx));
        const values: RequestWebhookSettingValues = {};
        const signature = input.signature === undefined ? account.webhook_signature : checkSignature(input.signature);
        const headers = input.headers === undefined ? account.webhook_headers : checkCustomHeaders(input.headers);
        checkHeadersBesideSignature(headers, signature);
        if (input.signature !== undefined) values.webhook_signature = signature ? JSON.stringify(signature) : null;
        if (input.headers !== undefined) values.webhook_headers = JSON.stringify(headers);
        if (input.rate_limit !== undefined) values.webhook_rate_limit = input.rate_limit;
        if (input.template !== undefined) values.webhook_template = await checkTemplate(deps, input.template, REQUEST_EVENT_TYPES);
        ctx.body = presentSettings(await updateRequestWebhookSettings(db, account, values));
      },
    }),
    operation({
      operationId: 'previewRequestWebhookDelivery',
      method: 'post',
      path: '/v1/webhooks/settings/preview',
      summary: 'Render a sample or stored event as a webhook_url delivery would send it, without sending it',
      tag: 'Webhooks',
      auth: 'api_key',
      body: jsonBody(previewBody, false),
      answers: { 200: jsonAnswer('The request', s.DeliveryPreview) },
      problems: PREVIEW_PROBLEMS,
      handler: async (ctx) => {
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
      },
    }),
  ];
}
