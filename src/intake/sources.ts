import { checkSourceUrl, SourceFetchError } from '../sources/fetch-source.js';
import type { AddressGuard } from '../net/address-guard.js';
import { ApiError } from '../problem.js';
import { safeFilename } from '../filenames.js';

/** A source URL as a request gives it, checked now (scheme, credentials, literal addresses): 400 `invalid_url` or 422 `blocked_address`. */
export function checkedSourceUrl(raw: string, guard: AddressGuard, field: string): string {
  try {
    return checkSourceUrl(raw, guard).toString();
  } catch (error) {
    if (!(error instanceof SourceFetchError)) throw error;
    if (error.code === 'blocked_address') throw new ApiError(422, 'blocked_address', `${field}: ${error.message}`, { field });
    throw new ApiError(400, 'invalid_url', `${field}: ${error.message}`, { field });
  }
}

/** The original's name from its URL: the last path segment, or `source`. */
export function sourceFilename(url: string): string {
  const segment = new URL(url).pathname.split('/').pop() ?? '';
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // A malformed escape: the segment as it is.
  }
  return safeFilename(decoded, 'source');
}
