import { ServiceError } from '@temporalio/client';

/** The gRPC status codes Kiln tells apart in the Temporal server's answers (grpc's status.proto). */
export const GRPC_STATUS = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  ALREADY_EXISTS: 6,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
} as const;

/** The gRPC status of a call made on a connection's service directly (the operator and workflow services). */
export function grpcStatusOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/**
 * Whether a Temporal client call failed because the server did not answer (away, restarting,
 * unreachable) within the call's deadline, rather than because of what was asked.
 */
export function isTemporalUnavailable(error: unknown): boolean {
  if (!(error instanceof ServiceError)) return false;
  const status = grpcStatusOf(error.cause);
  return status === GRPC_STATUS.UNAVAILABLE || status === GRPC_STATUS.DEADLINE_EXCEEDED;
}
