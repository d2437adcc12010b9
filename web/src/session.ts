import { Kiln, KilnError } from '../../sdk/src/index.js';

/** Where the tab keeps its API key: session storage, gone with the tab, never in a URL. */
const KEY = 'kiln.api_key';

/** Why the tab was sent to the sign-in page, shown there. */
let signedOutBecause: string | undefined;

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(key: string): void {
  sessionStorage.setItem(KEY, key);
  signedOutBecause = undefined;
}

export function signOut(reason?: string): void {
  sessionStorage.removeItem(KEY);
  signedOutBecause = reason;
  window.dispatchEvent(new Event('kiln:session'));
}

export function signOutReason(): string | undefined {
  return signedOutBecause;
}

/** Kiln on this origin with the tab's key; a key Kiln no longer takes ends the session with Kiln's reason. */
export function kiln(key = storedKey() ?? ''): Kiln {
  const fetchThroughSession: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 401 && storedKey() === key) {
      const problem = (await response
        .clone()
        .json()
        .catch(() => ({}))) as { detail?: string };
      signOut(problem.detail ?? 'Kiln no longer accepts this API key');
    }
    return response;
  };
  return new Kiln({ url: location.origin, apiKey: key, fetch: fetchThroughSession, maxTries: 3 });
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
