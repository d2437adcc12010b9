import { useState } from 'preact/hooks';
import { Alert } from '../parts.js';
import { describeError, kiln, signIn, signOutReason } from '../session.js';

/** The API key is checked against Kiln before the tab keeps it. */
export function SignIn(props: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(signOutReason());
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
          Kept in this tab only, until you sign out or close it.
        </p>
        <Alert id="sign-in-error" message={error} />
        <button type="submit" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
