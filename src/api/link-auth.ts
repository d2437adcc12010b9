import type { Context } from 'koa';
import type { Kysely } from 'kysely';
import type { IdPrefix } from '../ids.js';
import type { Database } from '../db/schema.js';
import type { DownloadSigner, LinkKind } from '../signing/download-url.js';
import { accountOf, requireApiKey } from './auth.js';
import { pathId, queryParameter } from './params.js';
import { ApiError } from '../problem.js';

/** Who may read the object of a route that takes an API key or a signed link. */
export interface KeyOrLink {
  /** The `:id` of the route. */
  id: string;
  /** The API key's account; undefined when a valid signed link stands in for the key. */
  accountId: string | undefined;
}

/**
 * For routes a browser or a webhook receiver opens without an API key: `expires` and
 * `signature` in the query (a link Kiln signed for `kind`) replace the key; without them
 * the API key is required as on every route.
 */
export function keyOrLink(db: Kysely<Database>, signer: DownloadSigner, kind: LinkKind, prefix: IdPrefix, notFound: (id: string) => ApiError) {
  const withApiKey = requireApiKey(db);
  return async (ctx: Context): Promise<KeyOrLink> => {
    if (ctx.query.signature === undefined && ctx.query.expires === undefined) {
      await withApiKey(ctx, () => Promise.resolve());
      return { id: pathId(ctx, prefix, notFound), accountId: accountOf(ctx).id };
    }
    const invalid = (): ApiError => new ApiError(403, 'invalid_signature', 'the link is not valid');
    const id = pathId(ctx, prefix, invalid);
    const verdict = signer.check(kind, id, queryParameter(ctx.query, 'expires'), queryParameter(ctx.query, 'signature'));
    if (verdict === 'invalid') throw invalid();
    if (verdict === 'expired') throw new ApiError(410, 'link_expired', 'the link has expired; fetch the object again for a fresh one');
    return { id, accountId: undefined };
  };
}
