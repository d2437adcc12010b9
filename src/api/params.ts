import type { Context } from 'koa';
import { hasPrefix, type IdPrefix } from '../ids.js';
import { ApiError } from '../problem.js';
import { hasNul } from '../safe-input.js';
import type { CreatedRange } from '../db/list-filters.js';
import { isoDateTime } from './operation.js';

/** A query parameter given at most once and free of NUL; 400 invalid_parameter otherwise. */
export function queryParameter(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ApiError(400, 'invalid_parameter', `give ${name} once`, { parameter: name });
  if (hasNul(value)) throw new ApiError(400, 'invalid_parameter', `${name} must not contain NUL`, { parameter: name });
  return value;
}

/** A query parameter that must be one of `choices` (a filter on a status or type); anything else is 400. */
export function queryChoice<T extends string>(query: Record<string, unknown>, name: string, choices: readonly T[]): T | undefined {
  const value = queryParameter(query, name);
  if (value !== undefined && !(choices as readonly string[]).includes(value)) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be one of ${choices.join(', ')}`, { parameter: name });
  }
  return value as T | undefined;
}

/** A query parameter that must match `pattern` (`shape` says what it is, for the 400). */
export function queryMatching(query: Record<string, unknown>, name: string, pattern: RegExp, shape: string): string | undefined {
  const value = queryParameter(query, name);
  if (value !== undefined && !pattern.test(value)) throw new ApiError(400, 'invalid_parameter', `${name} must be ${shape}`, { parameter: name });
  return value;
}

/** A query parameter that must be a whole number from `min` to `max`; anything else is 400. */
export function queryWhole(query: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = queryParameter(query, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be a whole number from ${min} to ${max}`, { parameter: name });
  }
  return Number(value);
}

/** A query parameter that must be a Kiln id with `prefix` (a filter); anything else is 400, never a query. */
export function queryId(query: Record<string, unknown>, name: string, prefix: IdPrefix): string | undefined {
  const value = queryParameter(query, name);
  if (value !== undefined && !hasPrefix(value, prefix)) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be an id starting ${prefix}_`, { parameter: name });
  }
  return value;
}

/** A query parameter that must be an ISO-8601 date-time with its zone; anything else is 400. */
export function queryTime(query: Record<string, unknown>, name: string): Date | undefined {
  const value = queryParameter(query, name);
  if (value === undefined) return undefined;
  const time = isoDateTime.safeParse(value).success ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be an ISO-8601 date-time with its zone, e.g. 2026-12-07T09:00:00Z`, { parameter: name });
  }
  return time;
}

/** A list's time range, from `created_after` and `created_before`. */
export function queryCreatedRange(query: Record<string, unknown>): CreatedRange {
  return { createdAfter: queryTime(query, 'created_after'), createdBefore: queryTime(query, 'created_before') };
}

/** The `:id` of the route when it is shaped like an id with `prefix`; otherwise nothing can match it, so 404. */
export function pathId(ctx: Context, prefix: IdPrefix, notFound: (id: string) => ApiError): string {
  const id = (ctx.params as Record<string, string | undefined>).id ?? '';
  if (!hasPrefix(id, prefix)) throw notFound(printable(id));
  return id;
}

/** A user's text shortened and stripped of control characters, for echoing in an error detail. */
export function printable(text: string, max = 64): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
