import { useEffect, useState } from 'preact/hooks';
import type { Kiln } from '../../../sdk/src/index.js';
import { when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { Alert, ShownOnce } from '../parts.js';
import { Link, navigate } from '../router.js';
import { describeError, watchedClient } from '../session.js';
import { ApiKeys, UsageTable, type Usage } from './settings.js';

/**
 * The operator's view, under /app/operator: the deployment's health and every account.
 * It signs in with the admin token (KILN_ADMIN_TOKEN), kept apart from an account's key in
 * the tab's session storage, and calls the admin routes only.
 */

const TOKEN = 'kiln.admin_token';
let signedOutBecause: string | undefined;

function operatorSignOut(reason?: string): void {
  sessionStorage.removeItem(TOKEN);
  signedOutBecause = reason;
  window.dispatchEvent(new Event('kiln:operator'));
}

/** Kiln with the tab's admin token; a token Kiln refuses ends the operator's session with Kiln's reason. */
function admin(token = sessionStorage.getItem(TOKEN) ?? ''): Kiln {
  return watchedClient(TOKEN, token, operatorSignOut, 'Kiln no longer accepts this admin token');
}

interface TaskQueue {
  name: string;
  kind: string;
  pollers: Array<{ identity: string; last_access_time: string | null }>;
  backlog: number | null;
  backlog_age_seconds: number | null;
}

interface Status {
  checked_at: string;
  postgres: { ok: boolean; error?: string };
  temporal: { ok: boolean; error?: string };
  task_queues: TaskQueue[] | null;
  work: Record<string, number>;
  links: { temporal_ui: string | null; temporal_namespace: string; metrics: string };
}

interface AccountSummary {
  id: string;
  name: string;
  created_at: string;
  conversions_active: number;
  endpoints: number;
  api_keys: number;
}

interface AccountDetail extends AccountSummary {
  usage: Usage;
  limits: { own: Record<string, number | null>; effective: Record<string, number | null> };
}

function OperatorSignIn(props: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(signedOutBecause);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      await admin(token.trim()).json('GET', '/v1/admin/accounts?limit=1');
      sessionStorage.setItem(TOKEN, token.trim());
      props.onSignedIn();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Kiln operator</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="admin-token">Admin token</label>
        <input
          id="admin-token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
          aria-describedby={error ? 'operator-error' : 'operator-help'}
        />
        <p id="operator-help" class="help">
          KILN_ADMIN_TOKEN (<code>npm start</code> prints it). Kept in this tab only.
        </p>
        <Alert id="operator-error" message={error} />
        <button type="submit" disabled={token.trim() === ''}>
          Sign in
        </button>
      </form>
      <p>
        <Link href="/">The dashboard for an account</Link>
      </p>
    </main>
  );
}

const healthText = (part: { ok: boolean; error?: string }): string => (part.ok ? 'answers' : `does not answer: ${part.error ?? ''}`);

/** The deployment at a glance, read again every 5 seconds. */
function StatusPage() {
  const [status, setStatus] = useState<Status | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [metrics, setMetrics] = useState<string | undefined>();
  useEffect(() => {
    const read = () =>
      admin()
        .json<Status>('GET', '/v1/admin/status')
        .then(setStatus, (failure: unknown) => setError(describeError(failure)));
    void read();
    const timer = setInterval(() => void read(), 5000);
    return () => clearInterval(timer);
  }, []);
  const showMetrics = async () => {
    try {
      const response = await admin().request('GET', '/metrics');
      setMetrics(await response.text());
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  if (!status) return error ? <Alert message={error} /> : <p aria-busy="true">Loading…</p>;
  return (
    <>
      <h1>Status</h1>
      <p class="help">As this API process saw it at {when(status.checked_at)}; read again every 5 seconds.</p>
      <Alert message={error} />
      <ul class="health">
        <li>
          Postgres <span class={`status status-${status.postgres.ok ? 'succeeded' : 'failed'}`}>{healthText(status.postgres)}</span>
        </li>
        <li>
          Temporal <span class={`status status-${status.temporal.ok ? 'succeeded' : 'failed'}`}>{healthText(status.temporal)}</span>
        </li>
      </ul>
      <section aria-labelledby="queues-heading">
        <h2 id="queues-heading">Workers and queues</h2>
        <p class="help">Each of Kiln's task queues as Temporal sees it: the workers that polled it lately, and the tasks waiting for one.</p>
        <table>
          <caption class="visually-hidden">Task queues</caption>
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Workers</th>
              <th scope="col">Waiting</th>
              <th scope="col">Oldest waited</th>
            </tr>
          </thead>
          <tbody>
            {(status.task_queues ?? []).map((queue) => (
              <tr key={`${queue.kind} ${queue.name}`}>
                <td class="code">
                  {queue.name} ({queue.kind === 'workflow' ? 'workflows' : 'activities'})
                </td>
                <td>
                  {queue.pollers.length === 0 ? (
                    <span class="status status-failed">none</span>
                  ) : (
                    queue.pollers.map((poller) => (
                      <div key={poller.identity} class="code">
                        {poller.identity}
                      </div>
                    ))
                  )}
                </td>
                <td>{queue.backlog ?? '–'}</td>
                <td>{queue.backlog_age_seconds ? `${queue.backlog_age_seconds.toFixed(1)} s` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="work-heading">
        <h2 id="work-heading">Work in flight</h2>
        <dl class="facts">
          {Object.entries(status.work).map(([name, count]) => (
            <div key={name}>
              <dt>{name.replaceAll('_', ' ')}</dt>
              <dd>{count}</dd>
            </div>
          ))}
        </dl>
      </section>
      <section aria-labelledby="links-heading">
        <h2 id="links-heading">Look further</h2>
        <ul>
          <li>
            {status.links.temporal_ui ? (
              <a href={`${status.links.temporal_ui}/namespaces/${encodeURIComponent(status.links.temporal_namespace)}/workflows`} rel="noreferrer">
                Temporal Web UI: every run
              </a>
            ) : (
              'Temporal Web UI: set KILN_TEMPORAL_UI_URL to link it here'
            )}
          </li>
          <li>
            Prometheus metrics at <code>{status.links.metrics}</code> (with the admin token as a bearer){' '}
            <button type="button" onClick={() => void showMetrics()}>
              Show them
            </button>
          </li>
        </ul>
        {metrics !== undefined && (
          <pre class="preview-text" tabIndex={0} aria-label="Metrics">
            {metrics}
          </pre>
        )}
      </section>
    </>
  );
}

/** Every account, newest first, and a form to make one (its first key shown once). */
function AccountsPage() {
  const accounts = useServerPage<AccountSummary>('/v1/admin/accounts', {}, 25, admin);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ id: string; name: string; key: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const answer = await admin().json<{ id: string; name: string; api_key: { key: string } }>('POST', '/v1/admin/accounts', { json: { name: name.trim() } });
      setCreated({ id: answer.id, name: answer.name, key: answer.api_key.key });
      setName('');
      accounts.refresh();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <>
      <h1>Accounts</h1>
      <form class="inline-form" onSubmit={(event) => void create(event)}>
        <label for="account-name">New account's name</label>
        <input id="account-name" required maxLength={100} value={name} onInput={(event) => setName((event.target as HTMLInputElement).value)} />
        <button type="submit" disabled={name.trim() === ''}>
          Create
        </button>
      </form>
      {created && (
        <ShownOnce secret={created.key}>
          <Link href={`/operator/accounts/${created.id}`}>{created.name}</Link> was made. Its first API key, shown this once:
        </ShownOnce>
      )}
      <Alert message={error ?? accounts.error} />
      <table>
        <caption class="visually-hidden">Accounts</caption>
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col">Active conversions</th>
            <th scope="col">Endpoints</th>
            <th scope="col">Live keys</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {accounts.items.map((account) => (
            <tr key={account.id}>
              <td>
                <Link href={`/operator/accounts/${account.id}`}>{account.name}</Link>
                <div class="help code">{account.id}</div>
              </td>
              <td>{account.conversions_active}</td>
              <td>{account.endpoints}</td>
              <td>{account.api_keys}</td>
              <td>{when(account.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager page={accounts} />
    </>
  );
}

/** An account's own limits: a number, `none` to lift one, empty to follow the default. */
function LimitsForm(props: { account: AccountDetail; onSaved: () => void }) {
  const { own, effective } = props.account.limits;
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.keys(effective).map((name) => [name, name in own ? (own[name] === null ? 'none' : String(own[name])) : ''])),
  );
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const save = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setSaved(false);
    const limits: Record<string, number | null> = {};
    for (const [name, value] of Object.entries(values)) {
      const text = value.trim();
      if (text === '') continue;
      if (text === 'none') limits[name] = null;
      else if (/^\d+$/.test(text)) limits[name] = Number(text);
      else return setError(`${name}: a whole number, none, or empty for the default`);
    }
    try {
      await admin().json('PUT', `/v1/admin/accounts/${props.account.id}/limits`, { json: limits });
      setSaved(true);
      props.onSaved();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <form class="endpoint-form" onSubmit={(event) => void save(event)}>
      {Object.keys(effective).map((name) => (
        <div class="field" key={name}>
          <label for={`limit-${name}`}>{name.replaceAll('_', ' ')}</label>
          <input
            id={`limit-${name}`}
            value={values[name]}
            placeholder={`default (${effective[name] ?? 'none'})`}
            onInput={(event) => setValues({ ...values, [name]: (event.target as HTMLInputElement).value })}
          />
        </div>
      ))}
      <p class="help">A whole number; none lifts the limit; empty follows the configured default.</p>
      <Alert message={error} />
      <button type="submit">Save the limits</button>
      {saved && <span role="status"> Saved.</span>}
    </form>
  );
}

/** One account: its usage and limits, its keys, and a sign-in link to hand its people. */
function AccountPage(props: { id: string }) {
  const [account, setAccount] = useState<AccountDetail | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [link, setLink] = useState<{ url: string; expires_at: string } | undefined>();
  const load = () =>
    admin()
      .json<AccountDetail>('GET', `/v1/admin/accounts/${props.id}`)
      .then(setAccount, (failure: unknown) => setError(describeError(failure)));
  useEffect(() => {
    void load();
  }, [props.id]);
  const makeLink = async () => {
    setError(undefined);
    try {
      const response = await admin().request('POST', `/v1/admin/accounts/${props.id}/sign-in-links`, { idempotent: false });
      setLink((await response.json()) as { url: string; expires_at: string });
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  if (!account) return error ? <Alert message={error} /> : <p aria-busy="true">Loading…</p>;
  return (
    <>
      <h1>{account.name}</h1>
      <p class="help code">{account.id}</p>
      <Alert message={error} />
      <section aria-labelledby="link-heading">
        <h2 id="link-heading">Sign-in link</h2>
        <p class="help">Opens the dashboard as this account, once; the session it starts ends by itself.</p>
        <button type="button" onClick={() => void makeLink()}>
          Make a sign-in link
        </button>
        {link && <ShownOnce secret={link.url}>Good once, until {when(link.expires_at)}:</ShownOnce>}
      </section>
      <section aria-labelledby="account-usage-heading">
        <h2 id="account-usage-heading">Usage</h2>
        <UsageTable usage={account.usage} />
      </section>
      <section aria-labelledby="limits-heading">
        <h2 id="limits-heading">Limits</h2>
        <LimitsForm account={account} onSaved={() => void load()} />
      </section>
      <ApiKeys client={admin} path={`/v1/admin/accounts/${account.id}/api-keys`} revokePath={(id) => `/v1/admin/api-keys/${id}`} />
    </>
  );
}

const OPERATOR_SECTIONS = [
  { path: '/operator', label: 'Status' },
  { path: '/operator/accounts', label: 'Accounts' },
] as const;

/** The operator's pages, behind their own sign-in. */
export function Operator(props: { path: string }) {
  const [signedIn, setSignedIn] = useState(sessionStorage.getItem(TOKEN) !== null);
  useEffect(() => {
    const update = () => setSignedIn(sessionStorage.getItem(TOKEN) !== null);
    window.addEventListener('kiln:operator', update);
    return () => window.removeEventListener('kiln:operator', update);
  }, []);
  const { path } = props;
  const account = /^\/operator\/accounts\/(acc_[0-9a-z]+)$/.exec(path);
  const current = path.startsWith('/operator/accounts') ? OPERATOR_SECTIONS[1] : OPERATOR_SECTIONS[0];
  useEffect(() => {
    document.title = signedIn ? `${current.label} · Kiln operator` : 'Sign in · Kiln operator';
  }, [path, signedIn]);
  if (!signedIn) return <OperatorSignIn onSignedIn={() => setSignedIn(true)} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Kiln operator</span>
        <nav aria-label="Sections">
          <ul>
            {OPERATOR_SECTIONS.map((section) => (
              <li key={section.path}>
                <Link href={section.path} aria-current={section === current ? 'page' : undefined}>
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="sign-out"
          onClick={() => {
            operatorSignOut();
            navigate('/operator');
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">{account ? <AccountPage id={account[1]!} /> : path === '/operator/accounts' ? <AccountsPage /> : <StatusPage />}</main>
    </>
  );
}
