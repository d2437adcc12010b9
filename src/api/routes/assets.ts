import { readFile } from 'node:fs/promises';
import Router from '@koa/router';
import type { Context } from 'koa';
import sharp from 'sharp';
import type { z } from 'zod';
import { countAssets, deleteAsset, findAsset, insertAsset, listAssets } from '../../db/assets.js';
import { assetKey } from '../../storage/keys.js';
import { checkIncomingFiles } from '../../intake/files.js';
import type { Asset } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import type * as contract from '../contract/schemas.js';
import { deleteBlobsIfStoreFails } from '../../storage/orphan-blobs.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId } from '../params.js';
import { ApiError } from '../../problem.js';
import { requestLog } from '../request-log.js';
import { receiveUpload } from '../upload.js';

/** Assets: images an account uploads once and names in conversions (a watermark). */

const assetNotFound = (id: string): ApiError => new ApiError(404, 'asset_not_found', `no asset ${id}`);

/** Raster formats a watermark may be. */
const ASSET_FORMATS = new Set(['png', 'jpeg', 'webp', 'gif', 'heif', 'tiff']);

function presentAsset(asset: Asset): z.input<typeof contract.Asset> {
  const { id, filename, format, width, height, bytes } = asset;
  return { object: 'asset', id, filename, format, width, height, bytes, created_at: asset.created_at.toISOString() };
}

export function assetRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();
  const idOf = (ctx: Context): string => pathId(ctx, 'ast', assetNotFound);

  router.post('/v1/assets', async (ctx) => {
    const accountId = accountOf(ctx).id;
    const upload = await receiveUpload(ctx, { dir: deps.spoolDir, maxBytes: config.maxAssetBytes, hashed: false }, (fields) => {
      const unknown = Object.keys(fields).filter((name) => name !== 'filename');
      if (unknown.length) throw new ApiError(400, 'invalid_options', `an asset takes no fields but its file (got ${unknown.join(', ')})`);
      return fields;
    });
    try {
      checkIncomingFiles(upload.files, 'send the image as the multipart field "file", or as the raw request body');
      const file = upload.files[0]!;
      const bytes = await readFile(file.path);
      const metadata = await sharp(bytes, { limitInputPixels: false })
        .metadata()
        .catch(() => undefined);
      if (!metadata?.format || !metadata.width || !metadata.height) throw new ApiError(415, 'unsupported_input', 'the file is not an image Kiln can read');
      if (!ASSET_FORMATS.has(metadata.format)) {
        throw new ApiError(415, 'unsupported_input', `an asset is a raster image (PNG, JPEG, WebP, GIF, AVIF, TIFF), not ${metadata.format}`);
      }
      const pixels = metadata.width * metadata.height;
      if (pixels > config.maxAssetPixels) {
        throw new ApiError(422, 'asset_too_large', `the image has ${pixels} pixels; an asset may have ${config.maxAssetPixels} (KILN_MAX_ASSET_PIXELS)`);
      }
      if ((await countAssets(db, accountId)) >= config.maxAssets) {
        throw new ApiError(409, 'asset_limit_reached', `an account keeps at most ${config.maxAssets} assets (KILN_MAX_ASSETS)`);
      }
      const id = newId('ast');
      const key = assetKey(accountId, id);
      await deps.blobs.write(key, bytes);
      const asset = await deleteBlobsIfStoreFails(deps.blobs, requestLog(ctx, deps.log), [key], () =>
        insertAsset(db, {
          id,
          account_id: accountId,
          filename: file.filename,
          format: metadata.format,
          width: metadata.width,
          height: metadata.height,
          bytes: file.bytes,
          blob_key: key,
        }),
      );
      ctx.status = 201;
      ctx.set('Location', `/v1/assets/${id}`);
      ctx.body = presentAsset(asset);
    } finally {
      await upload.discard();
    }
  });

  router.get('/v1/assets', async (ctx) => {
    const page = readPage(ctx.query);
    const rows = await listAssets(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, presentAsset);
  });

  router.get('/v1/assets/:id', async (ctx) => {
    const id = idOf(ctx);
    const asset = await findAsset(db, accountOf(ctx).id, id);
    if (!asset) throw assetNotFound(id);
    ctx.body = presentAsset(asset);
  });

  router.delete('/v1/assets/:id', async (ctx) => {
    const id = idOf(ctx);
    const deleted = await deleteAsset(db, accountOf(ctx).id, id);
    if (!deleted) throw assetNotFound(id);
    await deps.blobs.delete(deleted.blob_key);
    ctx.status = 204;
  });

  return router;
}
