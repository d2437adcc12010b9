import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { projectRoot } from '../../paths.js';
import { ApiError } from '../../problem.js';
import type { KilnConfig } from '../../config.js';

/** Where `npm run build` (scripts/build-web.ts) puts the dashboard. */
export const DASHBOARD_DIR = path.join(projectRoot, 'dist', 'web');

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * Scripts and styles from Kiln alone, none inline; images from Kiln (outputs through their
 * signed links) and the page's own blobs; nothing may frame it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secure(ctx: Context): void {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
}

function notBuilt(): ApiError {
  return new ApiError(503, 'dashboard_not_built', 'the dashboard is not built: npm run build makes it');
}

/**
 * The dashboard at /app: one page for every path under it (the page routes in the
 * browser), and its two assets. A page about the API, not part of it.
 */
export function addDashboard(router: Router, settings: Pick<KilnConfig, 'temporalUiUrl' | 'temporalNamespace'>): void {
  const page = (ctx: Context) => {
    const file = path.join(DASHBOARD_DIR, 'index.html');
    if (!existsSync(file)) throw notBuilt();
    secure(ctx);
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = createReadStream(file);
  };
  router.get('/app/assets/:name', (ctx) => {
    const name = ctx.params.name ?? '';
    const type = ASSETS[name];
    if (!type) throw new ApiError(404, 'not_found', `no asset ${name}`);
    const file = path.join(DASHBOARD_DIR, 'assets', name);
    if (!existsSync(file)) throw notBuilt();
    secure(ctx);
    ctx.type = type;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = createReadStream(file);
  });
  // What the page links to beyond Kiln: where each run can be looked at in the Temporal Web UI.
  router.get('/app/config.json', (ctx) => {
    secure(ctx);
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = { temporal_ui_url: settings.temporalUiUrl ?? null, temporal_namespace: settings.temporalNamespace };
  });
  router.get('/app', page);
  router.get('/app/*rest', page);
}
