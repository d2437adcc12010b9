import { ServiceError } from '@temporalio/client';

/** gRPC status codes. */
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

/**
 * Whether a Temporal client call failed because the server did not answer (away, restarting,
 * unreachable) within the call's deadline, rather than because of what was asked.
 */
export function isTemporalUnavailable(error: unknown): boolean {
  if (!(error instanceof ServiceError)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return code === UNAVAILABLE || code === DEADLINE_EXCEEDED;
}
