import type { Context } from 'koa';
import { z } from 'zod';
import { findAccount } from '../../db/accounts.js';
import { createSignInLink, redeemSignInLink } from '../../db/sign-in-links.js';
import { ApiError } from '../../problem.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { parseBody, readJsonBody, readOptionalJsonBody } from '../json-body.js';
import { idParam, jsonAnswer, jsonBody, operation, type Operation } from '../operation.js';
import { pathId } from '../params.js';
import { presentApiKey, refuseReplay } from './api-keys.js';

/** The shortest link worth making: time to open it. */
const MIN_LINK_SECONDS = 60;

function linkBody(maxSeconds: number) {
  return z
    .object({
      expires_in_seconds: z
        .number()
        .int()
        .min(MIN_LINK_SECONDS)
        .max(maxSeconds)
        .optional()
        .describe(`How long the link can be used, ${MIN_LINK_SECONDS}–${maxSeconds} s (default and most: KILN_SIGN_IN_LINK_TTL)`),
    })
    .strict();
}

const redeemBody = z
  .object({
    token: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,200}$/, 'token is the letters, digits and underscores after #token= in the link')
      .describe('The token from the link’s fragment (#token=…)'),
  })
  .strict();

const accountNotFound = (id: string) => new ApiError(404, 'account_not_found', `no account ${id}`);

const REFUSALS = {
  not_found: new ApiError(404, 'sign_in_link_not_found', 'this sign-in link is not one Kiln made'),
  used: new ApiError(410, 'sign_in_link_used', 'this sign-in link was used already: each works once. Ask for a new one'),
  expired: new ApiError(410, 'sign_in_link_expired', 'this sign-in link has expired. Ask for a new one'),
} as const;

/**
 * Dashboard sign-in links: an account's key holder (`kiln sign-in-link`) or the operator
 * makes one; opening it exchanges its token, once, for a key that expires (the tab's
 * session). The token rides in the URL's fragment, which browsers never send to a server,
 * so it reaches no access log or Referer.
 */
export function signInLinkOperations(deps: ApiDependencies): Operation[] {
  const { config, db } = deps;
  const body = linkBody(config.signInLinkTtlSeconds);

  async function makeLink(ctx: Context, accountId: string): Promise<void> {
    refuseReplay(ctx, 'making a sign-in link', 'make another');
    // No body takes the defaults; a body sent must be the object (JSON null included: 400).
    const sent = await readOptionalJsonBody(ctx);
    const input = sent === undefined ? {} : parseBody(body, sent);
    const { token, expiresAt } = await createSignInLink(db, accountId, input.expires_in_seconds ?? config.signInLinkTtlSeconds);
    ctx.status = 201;
    ctx.body = {
      object: 'sign_in_link',
      account_id: accountId,
      url: `${deps.signer.publicUrl()}/app/sign-in#token=${token}`,
      expires_at: expiresAt.toISOString(),
    };
  }

  const created = { 201: jsonAnswer('The link, shown this once (only its hash is stored)', s.SignInLink) };
  return [
    operation({
      operationId: 'createSignInLink',
      method: 'post',
      path: '/v1/sign-in-links',
      summary: 'Make a link that signs a browser in to the dashboard, once',
      description:
        'For handing the dashboard to someone without handing them an API key: the link works once, within its lifetime, and the key it gives the browser expires by itself (KILN_DASHBOARD_SESSION).',
      tag: 'Account',
      auth: 'api_key',
      body: jsonBody(body, false),
      answers: created,
      problems: { 400: ['idempotency_not_supported'] },
      handler: (ctx) => makeLink(ctx, accountOf(ctx).id),
    }),
    operation({
      operationId: 'createAccountSignInLink',
      method: 'post',
      path: '/v1/admin/accounts/{id}/sign-in-links',
      summary: 'Make a dashboard sign-in link for an account',
      tag: 'Admin',
      auth: 'admin',
      params: idParam('acc', 'account'),
      body: jsonBody(body, false),
      answers: created,
      problems: { 400: ['idempotency_not_supported'], 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'acc', accountNotFound);
        if (!(await findAccount(db, id))) throw accountNotFound(id);
        await makeLink(ctx, id);
      },
    }),
    operation({
      operationId: 'redeemSignInLink',
      method: 'post',
      path: '/v1/sign-in',
      summary: 'Exchange a sign-in link’s token for a session key',
      description:
        'What the dashboard does with a link it is opened at. The token works once; the key answered expires after KILN_DASHBOARD_SESSION and shows in the account’s keys until then (revoke it to end the session sooner).',
      tag: 'Account',
      auth: 'none',
      body: jsonBody(redeemBody),
      answers: { 201: jsonAnswer('The account and its session key, shown this once', s.DashboardSession) },
      problems: { 400: ['idempotency_not_supported'], 404: ['sign_in_link_not_found'], 410: ['sign_in_link_used', 'sign_in_link_expired'] },
      handler: async (ctx) => {
        refuseReplay(ctx, 'a sign-in', 'open a new link');
        const { token } = parseBody(redeemBody, await readJsonBody(ctx));
        const redeemed = await redeemSignInLink(db, token, config.dashboardSessionSeconds);
        if ('refused' in redeemed) throw REFUSALS[redeemed.refused];
        ctx.status = 201;
        ctx.body = {
          object: 'dashboard_session',
          account: { id: redeemed.account.id, name: redeemed.account.name },
          api_key: { ...presentApiKey(redeemed.key), key: redeemed.key.key },
        };
      },
    }),
  ];
}
