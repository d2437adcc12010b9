import type { PostOutcome } from './http-post.js';
import { parseRetryAfter, retryDelaySeconds } from '../durations.js';

/** Why an attempt did not deliver, as the delivery log and the run's failure type name it. */
export interface AttemptError {
  class: string;
  message: string;
}

/** What one attempt's answer means for its delivery. */
export type AttemptVerdict =
  | { kind: 'delivered' }
  /** Another attempt follows after `delaySeconds` (the schedule's wait, stretched by Retry-After). */
  | { kind: 'retry'; error: AttemptError; delaySeconds: number }
  /** No attempt follows: the schedule is used up, or the answer means "never retry". */
  | { kind: 'give_up'; error: AttemptError; failureType: string; failureMessage: string; disableEndpoint: boolean }
  /** A manual attempt failed: the scheduled retries, if any, carry on untouched. */
  | { kind: 'manual_failed'; error: AttemptError; failureType: string };

/** What an attempt came to: an answer, or an error before or instead of one. */
export type AttemptOutcome = Omit<PostOutcome, 'error'> & { error: AttemptError | null };

/** A 410 from an endpoint means "stop sending": Kiln disables it. */
const GONE = 410;
const THROTTLED = [429, 503];
/** Errors no retry can cure. */
const FINAL_ERROR_CLASSES = ['blocked_address', 'invalid_url'];

function attemptError(outcome: AttemptOutcome): AttemptError | null {
  if (outcome.error) return outcome.error;
  const code = outcome.statusCode;
  if (code !== null && code >= 200 && code < 300) return null;
  const why = code !== null && code >= 300 && code < 400 ? 'redirects are not followed' : 'only a 2xx counts as delivered';
  return { class: 'http_status', message: `the endpoint answered ${code}; ${why}` };
}

/**
 * The decision behind every delivery attempt, kept apart from the HTTP and the database so
 * it can be read and tested on its own. `attempt` is Temporal's attempt number of the
 * scheduled activity (1 for the first); a manual attempt never moves the schedule.
 */
export function judgeAttempt(
  outcome: AttemptOutcome,
  attempt: { trigger: 'scheduled' | 'manual'; number: number; retrySchedule: readonly number[]; now: Date },
): AttemptVerdict {
  const error = attemptError(outcome);
  if (error === null) return { kind: 'delivered' };
  const gone = outcome.statusCode === GONE;
  const final = gone || FINAL_ERROR_CLASSES.includes(error.class);
  const failureType = gone ? 'endpoint_gone' : error.class;
  if (attempt.trigger === 'manual' && !final) return { kind: 'manual_failed', error, failureType };
  if (final) return { kind: 'give_up', error, failureType, failureMessage: error.message, disableEndpoint: gone };
  const retryAfter = outcome.statusCode !== null && THROTTLED.includes(outcome.statusCode) ? parseRetryAfter(outcome.retryAfter, attempt.now) : undefined;
  const delaySeconds = retryDelaySeconds(attempt.retrySchedule, attempt.number, retryAfter);
  if (delaySeconds === undefined) return { kind: 'give_up', error, failureType, failureMessage: `${error.message} (no retries left)`, disableEndpoint: false };
  return { kind: 'retry', error, delaySeconds };
}
