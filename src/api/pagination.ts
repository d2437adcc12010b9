import { isId } from '../ids.js';
import { ApiError } from '../problem.js';

export interface Page {
  limit: number;
  after: string | undefined;
}

/** `limit` (1–100, default 20) and `cursor` (the last id of the previous page). */
export function readPage(query: Record<string, unknown>): Page {
  const rawLimit = query.limit;
  let limit = 20;
  if (rawLimit !== undefined) {
    if (typeof rawLimit !== 'string' || !/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > 100) {
      throw new ApiError(400, 'invalid_parameter', 'limit must be a whole number from 1 to 100', { parameter: 'limit' });
    }
    limit = Number(rawLimit);
  }
  const cursor = query.cursor;
  if (cursor !== undefined && (typeof cursor !== 'string' || !isId(cursor))) {
    throw new ApiError(400, 'invalid_parameter', 'cursor must be a next_cursor value from a previous page', { parameter: 'cursor' });
  }
  return { limit, after: cursor };
}

/** The list envelope every list route answers with. Asks for one extra row to know whether more follow. */
export function pageEnvelope<T extends { id: string }>(rows: T[], limit: number, present: (row: T) => unknown) {
  const pageRows = rows.slice(0, limit);
  return {
    data: pageRows.map(present),
    next_cursor: rows.length > limit ? (pageRows[pageRows.length - 1]?.id ?? null) : null,
  };
}
