import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Router from '@koa/router';
import { z } from 'zod';
import { jsonAnswer, operation, type Operation } from '../operation.js';
import { ApiError } from '../../problem.js';

/** swagger-ui-dist, installed from npm: the docs page needs no CDN. */
const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kiln API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>`;

// Kept out of the page itself so a strict Content-Security-Policy can forbid inline scripts.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#reference', deepLinking: true });`;

/** The machine-readable contract, itself an operation of the API. */
export function contractOperations(document: () => unknown): Operation[] {
  return [
    operation({
      operationId: 'getOpenApiDocument',
      method: 'get',
      path: '/openapi.json',
      summary: 'This document: the API as OpenAPI 3.1',
      tag: 'Operations',
      auth: 'none',
      answers: { 200: jsonAnswer('The OpenAPI document', z.record(z.string(), z.unknown())) },
      handler: (ctx) => {
        ctx.body = document();
      },
    }),
  ];
}

/** Adds the human reference rendered from the document: a page about the API, not part of it. */
export function addDocsPage(router: Router): void {
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    ctx.body = PAGE;
  });
  router.get('/docs/assets/init.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = INIT;
  });
  router.get('/docs/assets/:name', (ctx) => {
    const name = ctx.params.name ?? '';
    const type = ASSETS[name];
    if (!type) throw new ApiError(404, 'not_found', `no asset ${name}`);
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = createReadStream(path.join(swaggerUiDir, name));
  });
}
