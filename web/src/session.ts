import { Kiln, KilnError } from '../../sdk/src/index.js';

/** Where the tab keeps its API key: session storage, gone with the tab, never in a URL. */
const KEY = 'kiln.api_key';
/** The id of a key a sign-in link gave the tab: signing out revokes it, as nobody else holds it. */
const SESSION_KEY_ID = 'kiln.session_key_id';

/** Why the tab was sent to the sign-in page, shown there. */
let signedOutBecause: string | undefined;

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

/** Keeps `key` for the tab; `sessionKeyId` when a sign-in link made it for this tab alone. */
export function signIn(key: string, sessionKeyId?: string): void {
  sessionStorage.setItem(KEY, key);
  if (sessionKeyId) sessionStorage.setItem(SESSION_KEY_ID, sessionKeyId);
  else sessionStorage.removeItem(SESSION_KEY_ID);
  signedOutBecause = undefined;
  window.dispatchEvent(new Event('kiln:session'));
}

/**
 * Forgets the tab's key. Signing out by choice (no `reason`) also revokes a key a sign-in
 * link made, so it is dead even if it was copied; a key the reader brought stays theirs.
 */
export function signOut(reason?: string): void {
  const sessionKeyId = sessionStorage.getItem(SESSION_KEY_ID);
  if (!reason && sessionKeyId)
    void kiln()
      .request('DELETE', `/v1/api-keys/${sessionKeyId}`)
      .catch(() => undefined);
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SESSION_KEY_ID);
  signedOutBecause = reason;
  window.dispatchEvent(new Event('kiln:session'));
}

/**
 * Signs the tab in with a sign-in link's token: exchanged once for a key of its own that
 * expires by itself. The token is taken out of the address first, so it stays in no
 * history entry.
 */
export async function signInWithLink(token: string): Promise<void> {
  history.replaceState(null, '', location.pathname);
  // Not replayable (the key exists in plain text only in the answer), so sent without an Idempotency-Key.
  const response = await new Kiln({ url: location.origin, apiKey: '', maxTries: 3 }).request('POST', '/v1/sign-in', { json: { token }, idempotent: false });
  const session = (await response.json()) as { api_key: { id: string; key: string } };
  signIn(session.api_key.key, session.api_key.id);
}

export function signOutReason(): string | undefined {
  return signedOutBecause;
}

/**
 * Kiln on this origin with `token`, watched: a 401 while the tab still holds that token
 * (under `storageKey`) ends its session through `endSession`, with Kiln's reason. The
 * account's dashboard and the operator's view each keep a token this way.
 */
export function watchedClient(storageKey: string, token: string, endSession: (reason: string) => void, refused: string): Kiln {
  const fetchThroughSession: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 401 && sessionStorage.getItem(storageKey) === token) {
      const problem = (await response
        .clone()
        .json()
        .catch(() => ({}))) as { detail?: string };
      endSession(problem.detail ?? refused);
    }
    return response;
  };
  return new Kiln({ url: location.origin, apiKey: token, fetch: fetchThroughSession, maxTries: 3 });
}

/** Kiln on this origin with the tab's key; a key Kiln no longer takes ends the session with Kiln's reason. */
export function kiln(key = storedKey() ?? ''): Kiln {
  return watchedClient(KEY, key, signOut, 'Kiln no longer accepts this API key');
}

/** A problem as one line for the page. */
export function describeError(error: unknown): string {
  if (error instanceof KilnError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** A problem for the page, with each field's error when Kiln lists them (`invalid_options`). */
export function describeProblem(error: unknown): { message: string; errors: string[] } {
  const errors =
    error instanceof KilnError && Array.isArray(error.problem.errors) ? (error.problem.errors as Array<{ message?: string }>).map((e) => e.message ?? '') : [];
  return { message: describeError(error), errors };
}
