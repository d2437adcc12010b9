import { readFile } from 'node:fs/promises';
import type { Context } from 'koa';
import sharp from 'sharp';
import { z } from 'zod';
import { countAssets, deleteAsset, findAsset, insertAsset, listAssets } from '../../db/assets.js';
import { assetKey } from '../../storage/keys.js';
import { checkIncomingFiles } from '../../intake/files.js';
import type { Asset } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { binary, idParam, jsonAnswer, operation, pageQuery, linksTo, type Operation } from '../operation.js';
import { deleteBlobsIfStoreFails } from '../../storage/orphan-blobs.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId } from '../params.js';
import { ApiError } from '../../problem.js';
import { requestLog } from '../request-log.js';
import { receiveUpload } from '../upload.js';
import { sniffImage } from '../../convert/sniff.js';

/** Assets: images an account uploads once and names in conversions (a watermark). */

const assetNotFound = (id: string): ApiError => new ApiError(404, 'asset_not_found', `no asset ${id}`);

/** Raster formats a watermark may be. */
const ASSET_FORMATS = new Set(['png', 'jpeg', 'webp', 'gif', 'heif', 'tiff']);

function presentAsset(asset: Asset): z.input<typeof s.Asset> {
  const { id, filename, format, width, height, bytes } = asset;
  return { object: 'asset', id, filename, format, width, height, bytes, created_at: asset.created_at.toISOString() };
}

export function assetOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  const idOf = (ctx: Context): string => pathId(ctx, 'ast', assetNotFound);
  const params = idParam('ast', 'asset');
  const image = binary('The image: PNG, JPEG, WebP, GIF, AVIF or TIFF (as the raw body, its own image/* type is taken too)');

  return [
    operation({
      operationId: 'createAsset',
      method: 'post',
      path: '/v1/assets',
      summary: 'Upload an image to use in conversions (a watermark)',
      tag: 'Assets',
      auth: 'api_key',
      query: z.object({ filename: z.string().optional().describe('With the raw image as the body: its name (kept to 255 characters)') }),
      body: {
        required: true,
        description: 'Multipart with the image as `file`, or the raw image as the body (then `filename` in the query names it).',
        content: {
          'multipart/form-data': z.object({ file: image }).strict(),
          'application/octet-stream': image,
        },
      },
      answers: { 201: jsonAnswer('The asset', s.Asset, { headers: { Location: 'The asset' }, links: linksTo(['getAsset', 'deleteAsset'], 'asset') }) },
      problems: {
        400: ['invalid_options', 'file_required', 'empty_file', 'unexpected_file', 'invalid_multipart', 'upload_aborted'],
        409: ['asset_limit_reached'],
        413: ['file_too_large'],
        415: ['unsupported_input'],
        422: ['asset_too_large'],
        503: ['storage_unavailable'],
        507: ['insufficient_storage'],
      },
      handler: async (ctx) => {
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
          const notAnAsset = (what: string): ApiError =>
            new ApiError(415, 'unsupported_input', `an asset is a raster image (PNG, JPEG, WebP, GIF, AVIF, TIFF), not ${what}`);
          // HEIC, JPEG XL and PDF need the decoders beside sharp, which conversions use for their input only.
          const sniffed = sniffImage(file.head);
          if (sniffed.image && (sniffed.format === 'jxl' || sniffed.format === 'pdf')) throw notAnAsset(sniffed.format === 'jxl' ? 'JPEG XL' : 'PDF');
          const metadata = await sharp(bytes, { limitInputPixels: false })
            .metadata()
            .catch(() => undefined);
          if (!metadata?.format || !metadata.width || !metadata.height) throw new ApiError(415, 'unsupported_input', 'the file is not an image Kiln can read');
          if (!ASSET_FORMATS.has(metadata.format) || metadata.compression === 'hevc')
            throw notAnAsset(metadata.compression === 'hevc' ? 'HEIC' : metadata.format);
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
      },
    }),
    operation({
      operationId: 'listAssets',
      method: 'get',
      path: '/v1/assets',
      summary: "The account's assets",
      tag: 'Assets',
      auth: 'api_key',
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of assets', s.page(s.Asset, 'AssetPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listAssets(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, presentAsset);
      },
    }),
    operation({
      operationId: 'getAsset',
      method: 'get',
      path: '/v1/assets/{id}',
      summary: 'One asset',
      tag: 'Assets',
      auth: 'api_key',
      params,
      answers: { 200: jsonAnswer('The asset', s.Asset) },
      problems: { 404: ['asset_not_found'] },
      handler: async (ctx) => {
        const id = idOf(ctx);
        const asset = await findAsset(db, accountOf(ctx).id, id);
        if (!asset) throw assetNotFound(id);
        ctx.body = presentAsset(asset);
      },
    }),
    operation({
      operationId: 'deleteAsset',
      method: 'delete',
      path: '/v1/assets/{id}',
      summary: 'Delete an asset (conversions still naming it fail with watermark_not_found)',
      tag: 'Assets',
      auth: 'api_key',
      params,
      answers: { 204: { description: 'Deleted' } },
      problems: { 404: ['asset_not_found'] },
      handler: async (ctx) => {
        const id = idOf(ctx);
        const deleted = await deleteAsset(db, accountOf(ctx).id, id);
        if (!deleted) throw assetNotFound(id);
        await deps.blobs.delete(deleted.blob_key);
        ctx.status = 204;
      },
    }),
  ];
}
