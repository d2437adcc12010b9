import { useEffect, useState } from 'preact/hooks';
import { when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { describeError, kiln } from '../session.js';

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

interface Usage {
  quotas: Record<string, { used: number | null; limit: number | null; resets_at: string | null }>;
  rates: Record<string, { limit: number; window_seconds: number; remaining: number; reset_seconds: number } | null>;
}

/** API keys (a new one shown once), and what the account uses of its quotas and rates. */
export function Settings() {
  const keys = useServerPage<ApiKey>('/v1/api-keys', {});
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ name: string; key: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [usage, setUsage] = useState<Usage | undefined>();
  useEffect(() => {
    void kiln()
      .json<Usage>('GET', '/v1/usage')
      .then(setUsage, (failure: unknown) => setError(describeError(failure)));
  }, []);
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      // Kiln does not replay this call: the key exists in plain text only in its answer.
      const response = await kiln().request('POST', '/v1/api-keys', {
        body: JSON.stringify({ name: name.trim() }),
        headers: { 'content-type': 'application/json' },
        idempotent: false,
      });
      const answer = (await response.json()) as { name: string; key: string };
      setCreated({ name: answer.name, key: answer.key });
      setName('');
      keys.refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  const revoke = async (key: ApiKey) => {
    if (!confirm(`Revoke the key ${key.name} (${key.prefix}…)? Whatever uses it stops working at once.`)) return;
    try {
      await kiln().request('DELETE', `/v1/api-keys/${key.id}`);
      keys.refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <>
      <h1>Settings</h1>
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">API keys</h2>
        <form class="inline-form" onSubmit={(event) => void create(event)}>
          <label for="key-name">New key's name</label>
          <input id="key-name" required maxLength={100} value={name} onInput={(event) => setName((event.target as HTMLInputElement).value)} />
          <button type="submit" disabled={name.trim() === ''}>
            Create
          </button>
        </form>
        {created && (
          <div class="notice" role="status">
            <p>
              The key <strong>{created.name}</strong>, shown this once: keep it now.
            </p>
            <p>
              <code class="secret">{created.key}</code>
            </p>
          </div>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <table>
          <caption class="visually-hidden">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Starts with</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.items.map((key) => (
              <tr key={key.id}>
                <td>{key.name}</td>
                <td class="code">{key.prefix}…</td>
                <td>{when(key.created_at)}</td>
                <td>{when(key.last_used_at)}</td>
                <td>
                  <button type="button" onClick={() => void revoke(key)} aria-label={`Revoke ${key.name}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager page={keys} />
      </section>
      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage and limits</h2>
        {usage && (
          <table>
            <caption class="visually-hidden">Quotas</caption>
            <thead>
              <tr>
                <th scope="col">Quota</th>
                <th scope="col">Used</th>
                <th scope="col">Limit</th>
                <th scope="col">Resets</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(usage.quotas).map(([quota, q]) => (
                <tr key={quota}>
                  <td>{quota.replaceAll('_', ' ')}</td>
                  <td>{q.used ?? '–'}</td>
                  <td>{q.limit ?? 'none'}</td>
                  <td>{when(q.resets_at)}</td>
                </tr>
              ))}
              {Object.entries(usage.rates).map(([rate, r]) => (
                <tr key={rate}>
                  <td>{rate} requests</td>
                  <td>{r ? r.limit - r.remaining : '–'}</td>
                  <td>{r ? `${r.limit} per ${r.window_seconds} s` : 'none'}</td>
                  <td>{r ? `in ${r.reset_seconds} s` : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
