import { useEffect, useState } from 'preact/hooks';
import { size, when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { Alert, ShownOnce } from '../parts.js';
import type { Kiln } from '../../../sdk/src/index.js';
import { describeError, kiln } from '../session.js';

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export interface Usage {
  quotas: Record<string, { used: number | null; limit: number | null; resets_at: string | null }>;
  rates: Record<string, { limit: number; window_seconds: number; remaining: number; reset_seconds: number } | null>;
}

interface Preset {
  name: string;
  options: Record<string, string>;
  updated_at: string;
}

interface Asset {
  id: string;
  filename: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
}

/** Presets (made from the Convert page's options) and watermark assets. */
function PresetsAndAssets() {
  const presets = useServerPage<Preset>('/v1/presets', {});
  const assets = useServerPage<Asset>('/v1/assets', {});
  const [error, setError] = useState<string | undefined>();
  const remove = async (what: string, path: string, refresh: () => void) => {
    if (!confirm(`Delete ${what}?`)) return;
    try {
      await kiln().request('DELETE', path);
      refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  const upload = async (event: Event) => {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setError(undefined);
    try {
      const form = () => {
        const body = new FormData();
        body.append('file', file, file.name);
        return body;
      };
      await kiln().json('POST', '/v1/assets', { body: form });
      input.value = '';
      assets.refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <>
      <section aria-labelledby="presets-heading">
        <h2 id="presets-heading">Presets</h2>
        <p class="help">Saved from the Convert page's options; a conversion names one with its preset field.</p>
        <table>
          <caption class="visually-hidden">Presets</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Options</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {presets.items.map((preset) => (
              <tr key={preset.name}>
                <td>{preset.name}</td>
                <td class="code">
                  {Object.entries(preset.options)
                    .map(([name, value]) => `${name}=${value}`)
                    .join(' ')}
                </td>
                <td>
                  <button
                    type="button"
                    aria-label={`Delete the preset ${preset.name}`}
                    onClick={() => void remove(`the preset ${preset.name}`, `/v1/presets/${encodeURIComponent(preset.name)}`, presets.refresh)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager page={presets} />
      </section>
      <section aria-labelledby="assets-heading">
        <h2 id="assets-heading">Watermark assets</h2>
        <div class="field">
          <label for="asset-file">Upload an image to lay over outputs</label>
          <input id="asset-file" type="file" accept="image/*" onChange={(event) => void upload(event)} />
        </div>
        <Alert message={error} />
        <table>
          <caption class="visually-hidden">Assets</caption>
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Id (the watermark option)</th>
              <th scope="col">Image</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {assets.items.map((asset) => (
              <tr key={asset.id}>
                <td>{asset.filename}</td>
                <td class="code">{asset.id}</td>
                <td>
                  {asset.format} {asset.width} × {asset.height}, {size(asset.bytes)}
                </td>
                <td>
                  <button
                    type="button"
                    aria-label={`Delete the asset ${asset.filename}`}
                    onClick={() => void remove(`the asset ${asset.filename}`, `/v1/assets/${asset.id}`, assets.refresh)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Pager page={assets} />
      </section>
    </>
  );
}

/**
 * An account's API keys: made (the key shown once, in the page only), listed, revoked after
 * a confirmation. The account's own page and the operator's share it, each with its client
 * and paths.
 */
export function ApiKeys(props: { client: () => Kiln; path: string; revokePath: (id: string) => string }) {
  const { client } = props;
  const keys = useServerPage<ApiKey>(props.path, {}, 25, client);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ name: string; key: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      // Kiln does not replay this call: the key exists in plain text only in its answer.
      const response = await client().request('POST', props.path, { json: { name: name.trim() }, idempotent: false });
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
      await client().request('DELETE', props.revokePath(key.id));
      keys.refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
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
        <ShownOnce secret={created.key}>
          The key <strong>{created.name}</strong>, shown this once: keep it now.
        </ShownOnce>
      )}
      <Alert message={error ?? keys.error} />
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
              <td>
                {key.name}
                {key.expires_at && <div class="help">a sign-in's key, until {when(key.expires_at)}</div>}
              </td>
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
  );
}

/** Each quota and rate with what is used of it. */
export function UsageTable(props: { usage: Usage }) {
  const { usage } = props;
  return (
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
  );
}

/** API keys (a new one shown once), presets and assets, and what the account uses of its quotas and rates. */
export function Settings() {
  const [error, setError] = useState<string | undefined>();
  const [usage, setUsage] = useState<Usage | undefined>();
  useEffect(() => {
    void kiln()
      .json<Usage>('GET', '/v1/usage')
      .then(setUsage, (failure: unknown) => setError(describeError(failure)));
  }, []);
  return (
    <>
      <h1>Settings</h1>
      <ApiKeys client={kiln} path="/v1/api-keys" revokePath={(id) => `/v1/api-keys/${id}`} />
      <PresetsAndAssets />
      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage and limits</h2>
        <Alert message={error} />
        {usage && <UsageTable usage={usage} />}
      </section>
    </>
  );
}
