/** A problem Kiln answered (RFC 9457), or a request that never got an answer. */
export class KilnError extends Error {
  override readonly name = 'KilnError';
  constructor(
    /** The HTTP status; 0 when no answer came (the connection failed, the wait timed out). */
    readonly status: number,
    /** Kiln's stable problem code (`rate_limited`, `invalid_options`, …), or `network_error`, `timeout`. */
    readonly code: string,
    message: string,
    /** The whole problem body: `errors`, `quota`, `limit`, … where the code carries them. */
    readonly problem: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A webhook whose signature does not hold; `reason` says why. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(readonly reason: 'missing_headers' | 'timestamp_out_of_tolerance' | 'no_matching_signature' | 'invalid_body') {
    super(
      {
        missing_headers: 'the webhook-id, webhook-timestamp and webhook-signature headers (or X-Kiln-Signature) are required',
        timestamp_out_of_tolerance: 'webhook-timestamp is too far from now: a replay, or a clock far off',
        no_matching_signature: 'no signature matches any of the secrets given',
        invalid_body: 'the body is not JSON',
      }[reason],
    );
  }
}
