import { useEffect, useState } from 'preact/hooks';
import { Alert } from '../parts.js';
import { describeError, kiln, signIn, signInWithLink, signOutReason } from '../session.js';

/** The token of a sign-in link the tab was opened at (`/app/sign-in#token=…`), if any. */
export function linkToken(): string | undefined {
  return /^#token=([A-Za-z0-9_]+)$/.exec(location.hash)?.[1];
}

/** Opened at a sign-in link: trades its token for a session, or says why it cannot. */
export function LinkSignIn(props: { token: string; onFailed: (reason: string) => void }) {
  useEffect(() => {
    signInWithLink(props.token).catch((failure: unknown) => props.onFailed(describeError(failure)));
  }, [props.token]);
  return (
    <main class="sign-in" id="main">
      <h1>Kiln</h1>
      <p aria-busy="true">Signing in with the link…</p>
    </main>
  );
}

/** The API key is checked against Kiln before the tab keeps it. */
export function SignIn(props: { onSignedIn: () => void; reason?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(props.reason ?? signOutReason());
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await kiln(key.trim()).json('GET', '/v1/usage');
      signIn(key.trim());
      props.onSignedIn();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Kiln</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(event) => setKey((event.target as HTMLInputElement).value)}
          aria-describedby={error ? 'sign-in-error' : 'sign-in-help'}
        />
        <p id="sign-in-help" class="help">
          Kept in this tab only, until you sign out or close it. No key? Ask for a sign-in link: <code>kiln sign-in-link</code> makes one.
        </p>
        <Alert id="sign-in-error" message={error} />
        <button type="submit" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
