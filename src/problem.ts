/**
 * An API error, answered as RFC 9457 `application/problem+json`. `code` is stable and
 * documented per operation in the OpenAPI document; `detail` is for humans and may change.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    /** Headers the answer carries, such as Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}
