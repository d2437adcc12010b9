import { useEffect, useState } from 'preact/hooks';
import { when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { Link, navigate, useRoute } from '../router.js';
import { Alert, CREATED_RANGE, filterQuery, ListFilters, statusField, type FilterField } from '../parts.js';
import { describeError, kiln } from '../session.js';

interface Endpoint {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  enabled: boolean;
  retry_schedule: string[];
  retry_schedule_is_default: boolean;
  rate_limit: number | null;
  disabled_reason?: string | null;
  template: string | null;
  headers: Record<string, string>;
  signature: Signature | null;
}

/** An extra signature header in the receiver's shape (the API's `signature`). */
interface Signature {
  header: string;
  algorithm: 'sha256' | 'sha512' | 'sha1';
  encoding: 'hex' | 'base64';
  prefix: string;
  form: 'plain' | 'timestamped';
  /** Left out, the API picks it from the form; dropped when the form changes. */
  signed_content?: 'body' | 'timestamp.body';
  timestamp_header: string | null;
}

interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  endpoint_id: string | null;
  url: string;
  status: string;
  attempt_count: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  attempts?: Array<{
    attempt: number;
    trigger: string;
    url: string;
    started_at: string;
    duration_ms: number;
    status_code: number | null;
    response_body_preview: string | null;
    request: { headers: Record<string, string>; body: string } | null;
    error: { class: string; message: string | null } | null;
  }>;
}

const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;

interface EventTypeDescription {
  type: string;
  description: string;
  schema: unknown;
  example: unknown;
}

/** The catalog is the same for every account and never changes while Kiln runs: read once per tab (again after a failure). */
let catalog: Promise<EventTypeDescription[]> | undefined;

function useEventCatalog(): EventTypeDescription[] {
  const [types, setTypes] = useState<EventTypeDescription[]>([]);
  useEffect(() => {
    catalog ??= kiln()
      .json<{ data: EventTypeDescription[] }>('GET', '/v1/webhooks/event-types')
      .then((page) => page.data);
    let current = true;
    catalog.then(
      (data) => current && setTypes(data),
      () => (catalog = undefined),
    );
    return () => {
      current = false;
    };
  }, []);
  return types;
}

const useEventTypes = (): string[] => useEventCatalog().map((t) => t.type);

/** Headers as a user writes them, one `Name: value` a line; a line without a colon is named in the error. */
function parseHeaderLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`Custom headers, line ${index + 1}: write it as Name: value`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

const headerLines = (headers: Record<string, string>): string =>
  Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\n');

/** A `<select>` with its label, for the short fixed choices of a form. */
function Choice<T extends string>(props: { id: string; label: string; value: T; choices: readonly T[]; onChange: (value: T) => void }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value as T)}>
        {props.choices.map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The extra signature header's fields; null while the endpoint has none. */
function SignatureFields(props: { value: Signature | null; onChange: (value: Signature | null) => void }) {
  const { value, onChange } = props;
  const set = (change: Partial<Signature>) => value && onChange({ ...value, ...change });
  return (
    <fieldset>
      <legend>Extra signature header</legend>
      <div class="field field-check">
        <input
          id="signature-on"
          type="checkbox"
          checked={value !== null}
          onChange={(e) =>
            onChange(
              (e.target as HTMLInputElement).checked
                ? { header: '', algorithm: 'sha256', encoding: 'hex', prefix: '', form: 'plain', timestamp_header: null }
                : null,
            )
          }
        />
        <label for="signature-on">Also sign in a header of the receiver's own shape (beside Kiln's webhook-signature)</label>
      </div>
      {value && (
        <>
          <div class="field">
            <label for="signature-header">Header name</label>
            <input
              id="signature-header"
              required
              placeholder="X-Signature"
              value={value.header}
              onInput={(e) => set({ header: (e.target as HTMLInputElement).value })}
            />
          </div>
          <Choice
            id="signature-algorithm"
            label="HMAC hash"
            value={value.algorithm}
            choices={['sha256', 'sha512', 'sha1'] as const}
            onChange={(algorithm) => set({ algorithm })}
          />
          <Choice
            id="signature-encoding"
            label="Written as"
            value={value.encoding}
            choices={['hex', 'base64'] as const}
            onChange={(encoding) => set({ encoding })}
          />
          <Choice
            id="signature-form"
            label="Form (timestamped: t=…,v1=…)"
            value={value.form}
            choices={['plain', 'timestamped'] as const}
            onChange={(form) => set({ form, signed_content: undefined })}
          />
          <div class="field">
            <label for="signature-prefix">Prefix (e.g. sha256=)</label>
            <input id="signature-prefix" value={value.prefix} onInput={(e) => set({ prefix: (e.target as HTMLInputElement).value })} />
          </div>
          <div class="field">
            <label for="signature-timestamp">Timestamp header (optional)</label>
            <input
              id="signature-timestamp"
              value={value.timestamp_header ?? ''}
              onInput={(e) => set({ timestamp_header: (e.target as HTMLInputElement).value.trim() || null })}
            />
          </div>
        </>
      )}
    </fieldset>
  );
}

/** The fields an endpoint is made or changed with; event types are picked from Kiln's catalog. */
function EndpointForm(props: { initial?: Endpoint; submitLabel: string; onSubmit: (body: Record<string, unknown>) => Promise<void> }) {
  const types = useEventTypes();
  const { initial } = props;
  const [url, setUrl] = useState(initial?.url ?? '');
  const [description, setDescription] = useState(initial?.description ?? '');
  const [chosen, setChosen] = useState<string[]>(initial?.event_types ?? []);
  const [schedule, setSchedule] = useState(initial && !initial.retry_schedule_is_default ? initial.retry_schedule.join(', ') : '');
  const [rate, setRate] = useState(initial?.rate_limit ? String(initial.rate_limit) : '');
  const [enabled, setEnabled] = useState(initial?.enabled ?? true);
  const [headers, setHeaders] = useState(headerLines(initial?.headers ?? {}));
  const [signature, setSignature] = useState<Signature | null>(initial?.signature ?? null);
  const [error, setError] = useState<string | undefined>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    const waits = schedule
      .split(',')
      .map((w) => w.trim())
      .filter(Boolean);
    try {
      await props.onSubmit({
        url,
        description,
        event_types: chosen,
        enabled,
        retry_schedule: schedule.trim() === '' ? null : waits,
        rate_limit: rate.trim() === '' ? null : Number(rate),
        headers: parseHeaderLines(headers),
        signature,
      });
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <form class="endpoint-form" onSubmit={(event) => void submit(event)}>
      <div class="field">
        <label for="endpoint-url">URL</label>
        <input id="endpoint-url" type="url" required value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
      </div>
      <div class="field">
        <label for="endpoint-description">Description</label>
        <input id="endpoint-description" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      </div>
      <fieldset>
        <legend>Event types (none chosen: all of them)</legend>
        {types.map((type) => (
          <div class="field field-check" key={type}>
            <input
              id={`type-${type}`}
              type="checkbox"
              checked={chosen.includes(type)}
              onChange={(e) => setChosen((e.target as HTMLInputElement).checked ? [...chosen, type] : chosen.filter((t) => t !== type))}
            />
            <label for={`type-${type}`}>{type}</label>
          </div>
        ))}
      </fieldset>
      <div class="field">
        <label for="endpoint-schedule">Retry schedule</label>
        <input
          id="endpoint-schedule"
          placeholder="30s, 2m, 10m"
          value={schedule}
          onInput={(e) => setSchedule((e.target as HTMLInputElement).value)}
          aria-describedby="endpoint-schedule-help"
        />
        <p id="endpoint-schedule-help" class="help">
          The waits between attempts; empty for Kiln's default.
        </p>
      </div>
      <div class="field">
        <label for="endpoint-rate">Deliveries per second at most</label>
        <input id="endpoint-rate" type="number" min={1} step="any" value={rate} onInput={(e) => setRate((e.target as HTMLInputElement).value)} />
      </div>
      <div class="field">
        <label for="endpoint-headers">Custom headers</label>
        <textarea
          id="endpoint-headers"
          rows={3}
          spellcheck={false}
          placeholder="Authorization: Bearer …"
          value={headers}
          onInput={(e) => setHeaders((e.target as HTMLTextAreaElement).value)}
          aria-describedby="endpoint-headers-help"
        />
        <p id="endpoint-headers-help" class="help">
          One <code>Name: value</code> a line, sent with every delivery beside Kiln's own.
        </p>
      </div>
      <SignatureFields value={signature} onChange={setSignature} />
      <div class="field field-check">
        <input id="endpoint-enabled" type="checkbox" checked={enabled} onChange={(e) => setEnabled((e.target as HTMLInputElement).checked)} />
        <label for="endpoint-enabled">Enabled</label>
      </div>
      <Alert message={error} />
      <button type="submit">{props.submitLabel}</button>
    </form>
  );
}

/** Endpoints, and a form to add one. */
export function Webhooks() {
  const endpoints = useServerPage<Endpoint>('/v1/webhooks/endpoints', {});
  const [adding, setAdding] = useState(false);
  return (
    <>
      <h1>Webhooks</h1>
      <p>
        <Link href="/webhooks/deliveries">Delivery log</Link> · <Link href="/webhooks/event-types">Event catalog</Link>
      </p>
      <table>
        <caption>Endpoints</caption>
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Enabled</th>
            <th scope="col">Event types</th>
          </tr>
        </thead>
        <tbody>
          {endpoints.items.map((endpoint) => (
            <tr key={endpoint.id}>
              <td>
                <Link href={`/webhooks/endpoints/${endpoint.id}`}>{endpoint.url}</Link>
                {endpoint.description && <div class="help">{endpoint.description}</div>}
              </td>
              <td>{endpoint.enabled ? 'yes' : 'no'}</td>
              <td>{endpoint.event_types.length === 0 ? 'all' : endpoint.event_types.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager page={endpoints} />
      {adding ? (
        <section aria-labelledby="add-heading">
          <h2 id="add-heading">Add an endpoint</h2>
          <EndpointForm
            submitLabel="Add endpoint"
            onSubmit={async (body) => {
              const created = await kiln().json<Endpoint>('POST', '/v1/webhooks/endpoints', { json: body });
              navigate(`/webhooks/endpoints/${created.id}`);
            }}
          />
        </section>
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          Add an endpoint
        </button>
      )}
    </>
  );
}

/** The delivery log, a server page at a time, filtered by what the address holds; `endpointId` fixes the endpoint. */
function DeliveryTable(props: { endpointId?: string; endpointFilter?: FilterField }) {
  const { query } = useRoute();
  const types = useEventTypes();
  const fields: FilterField[] = [
    ...(props.endpointFilter ? [props.endpointFilter] : []),
    statusField(DELIVERY_STATUSES),
    { name: 'event_type', label: 'Event type', choices: types },
    ...CREATED_RANGE,
  ];
  const filters = filterQuery(query, fields);
  const deliveries = useServerPage<Delivery>('/v1/webhooks/deliveries', { ...filters, endpoint_id: props.endpointId ?? filters.endpoint_id });
  return (
    <>
      <ListFilters id="delivery-filter" fields={fields} />
      <Alert message={deliveries.error} />
      <table>
        <caption class="visually-hidden">Deliveries</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last answer</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.items.map((d) => (
            <tr key={d.id}>
              <td>
                <Link href={`/webhooks/deliveries/${d.id}`}>{d.event_type}</Link>
              </td>
              <td>
                <span class={`status status-${d.status}`}>{d.status}</span>
              </td>
              <td>{d.attempt_count}</td>
              <td>{d.last_status_code ?? d.last_error ?? '–'}</td>
              <td>{when(d.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!deliveries.loading && deliveries.items.length === 0 && !deliveries.error && (
        <p>No deliveries{[...query.keys()].length > 0 ? ' match these filters' : ''}.</p>
      )}
      <Pager page={deliveries} />
    </>
  );
}

/** The whole delivery log, filtered by endpoint too (chosen among the account's first 100). */
export function Deliveries() {
  const endpoints = useServerPage<Endpoint>('/v1/webhooks/endpoints', {}, 100);
  const endpointFilter: FilterField = { name: 'endpoint_id', label: 'Endpoint', choices: endpoints.items.map((e) => ({ value: e.id, label: e.url })) };
  return (
    <>
      <h1>Delivery log</h1>
      <p>
        <Link href="/webhooks/event-types">The event catalog</Link>
      </p>
      <DeliveryTable endpointFilter={endpointFilter} />
    </>
  );
}

/** One endpoint: edit it, its secret (shown on demand, rotated with an overlap), a test event, recovery, its deliveries. */
export function EndpointPage(props: { id: string }) {
  const [endpoint, setEndpoint] = useState<Endpoint | undefined>();
  const [secret, setSecret] = useState<string | undefined>();
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  // A day back, as the reader's own clock shows it (what a datetime-local field holds).
  const [since, setSince] = useState(() => {
    const dayAgo = new Date(Date.now() - 86_400_000);
    return new Date(dayAgo.getTime() - dayAgo.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  });
  const [pendingToo, setPendingToo] = useState(false);
  const [counted, setCounted] = useState<number | undefined>();
  const path = `/v1/webhooks/endpoints/${props.id}`;
  const load = () =>
    kiln()
      .json<Endpoint>('GET', path)
      .then(setEndpoint, (failure: unknown) => setError(describeError(failure)));
  useEffect(() => {
    void load();
  }, [props.id]);
  const act = async (what: () => Promise<string>) => {
    setError(undefined);
    setMessage(undefined);
    try {
      setMessage(await what());
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  const recover = (dryRun: boolean) =>
    act(async () => {
      const result = await kiln().json<{ redelivered: number }>('POST', '/v1/webhooks/recover', {
        json: { endpoint_id: props.id, since: new Date(since).toISOString(), status: pendingToo ? ['failed', 'pending'] : ['failed'], dry_run: dryRun },
      });
      if (dryRun) setCounted(result.redelivered);
      return dryRun ? `${result.redelivered} deliveries would be sent again.` : `Sending ${result.redelivered} deliveries again.`;
    });
  if (!endpoint) return error ? <Alert message={error} /> : <p aria-busy="true">Loading…</p>;
  return (
    <>
      <h1>{endpoint.url}</h1>
      {!endpoint.enabled && <p>Disabled{endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ''}.</p>}
      <div class="actions">
        <button
          type="button"
          onClick={() =>
            void act(async () => {
              await kiln().request('POST', `${path}/test`);
              return 'A webhook.test event is on its way.';
            })
          }
        >
          Send a test event
        </button>
        <button
          type="button"
          onClick={() =>
            void act(async () => {
              setSecret((await kiln().json<{ secret: string }>('GET', `${path}/secret`)).secret);
              return 'The signing secret is shown below.';
            })
          }
        >
          Reveal the secret
        </button>
        <button
          type="button"
          onClick={() =>
            void act(async () => {
              if (!confirm('Rotate the signing secret? The current one keeps signing beside the new one until the overlap ends.')) return 'Not rotated.';
              const rotated = await kiln().json<{ secret: string; previous_secret_expires_at: string | null }>('POST', `${path}/rotate-secret`);
              setSecret(rotated.secret);
              return `Rotated: the previous secret signs too until ${when(rotated.previous_secret_expires_at)}.`;
            })
          }
        >
          Rotate the secret
        </button>
      </div>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      <Alert message={error} />
      {secret && (
        <p>
          Signing secret: <code class="secret">{secret}</code>
        </p>
      )}
      <section aria-labelledby="recover-heading">
        <h2 id="recover-heading">Send missed deliveries again</h2>
        <div class="inline-form">
          <label for="recover-since">Since</label>
          <input id="recover-since" type="datetime-local" value={since} onInput={(e) => setSince((e.target as HTMLInputElement).value)} />
          <input id="recover-pending" type="checkbox" checked={pendingToo} onChange={(e) => setPendingToo((e.target as HTMLInputElement).checked)} />
          <label for="recover-pending">pending ones too</label>
          <button type="button" onClick={() => void recover(true)}>
            Count them
          </button>
          <button type="button" disabled={counted === undefined || counted === 0} onClick={() => void recover(false)}>
            Send them again
          </button>
        </div>
      </section>
      <section aria-labelledby="deliveries-heading">
        <h2 id="deliveries-heading">Deliveries</h2>
        <DeliveryTable endpointId={props.id} />
      </section>
      <TemplateEditor key={endpoint.id} endpoint={endpoint} onSaved={setEndpoint} />
      <section aria-labelledby="edit-heading">
        <h2 id="edit-heading">Edit</h2>
        <EndpointForm
          key={endpoint.id}
          initial={endpoint}
          submitLabel="Save"
          onSubmit={async (body) => {
            setEndpoint(await kiln().json<Endpoint>('PATCH', path, { json: body }));
            setMessage('Saved.');
          }}
        />
        <button
          type="button"
          class="danger"
          onClick={() =>
            void act(async () => {
              if (!confirm(`Delete the endpoint ${endpoint.url}? Its delivery log stays.`)) return 'Not deleted.';
              await kiln().request('DELETE', path);
              navigate('/webhooks');
              return 'Deleted.';
            })
          }
        >
          Delete this endpoint
        </button>
      </section>
    </>
  );
}

/**
 * The payload template (JSONata over Kiln's envelope), with the request a delivery would
 * send rendered by Kiln as it is typed, for a sample or stored event of the chosen type.
 */
function TemplateEditor(props: { endpoint: Endpoint; onSaved: (endpoint: Endpoint) => void }) {
  const path = `/v1/webhooks/endpoints/${props.endpoint.id}`;
  const types = useEventTypes();
  const [template, setTemplate] = useState(props.endpoint.template ?? '');
  const [eventType, setEventType] = useState(props.endpoint.event_types[0] ?? 'conversion.completed');
  const [stored, setStored] = useState(false);
  const [source, setSource] = useState<string | undefined>();
  const [preview, setPreview] = useState<{ headers: Record<string, string>; body: string } | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    let current = true;
    // The latest stored event of the type, when asked for and there is one; else Kiln's sample of it.
    const event = async (): Promise<Record<string, string>> => {
      if (!stored) return { event_type: eventType };
      const latest = await kiln().json<{ data: Array<{ id: string }> }>('GET', `/v1/events?type=${encodeURIComponent(eventType)}&limit=1`);
      const id = latest.data[0]?.id;
      if (current) setSource(id ? `the stored event ${id}` : `a sample: no ${eventType} event is stored yet`);
      return id ? { event_id: id } : { event_type: eventType };
    };
    // Rendered a moment after typing stops, not on every key.
    const timer = setTimeout(() => {
      event()
        .then(async (which) =>
          kiln().json<{ headers: Record<string, string>; body: string }>('POST', `${path}/preview`, {
            json: { ...which, template: template.trim() === '' ? null : template },
          }),
        )
        .then(
          (rendered) => {
            if (!current) return;
            setPreview(rendered);
            setProblem(undefined);
          },
          (failure: unknown) => current && setProblem(describeError(failure)),
        );
    }, 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [template, eventType, stored]);
  const save = async () => {
    setSaved(false);
    try {
      props.onSaved(await kiln().json<Endpoint>('PATCH', path, { json: { template: template.trim() === '' ? null : template } }));
      setSaved(true);
    } catch (failure) {
      setProblem(describeError(failure));
    }
  };
  return (
    <section aria-labelledby="template-heading">
      <h2 id="template-heading">Payload template</h2>
      <div class="field">
        <label for="template">JSONata over the event (empty: Kiln's own body)</label>
        <textarea id="template" rows={5} spellcheck={false} value={template} onInput={(e) => setTemplate((e.target as HTMLTextAreaElement).value)} />
      </div>
      <div class="field">
        <label for="preview-type">Preview with an event of type</label>
        <select id="preview-type" value={eventType} onChange={(e) => setEventType((e.target as HTMLSelectElement).value)}>
          {types.map((type) => (
            <option value={type}>{type}</option>
          ))}
        </select>
      </div>
      <div class="field field-check">
        <input id="preview-stored" type="checkbox" checked={stored} onChange={(e) => setStored((e.target as HTMLInputElement).checked)} />
        <label for="preview-stored">Use the latest stored event of that type, not a sample</label>
      </div>
      <Alert message={problem} />
      {preview && !problem && (
        <div aria-live="polite">
          <h3>The request, as it would be sent</h3>
          {stored && source && <p class="help">Rendered from {source}.</p>}
          {/* Scrollable blocks are focusable, so a keyboard can scroll them. */}
          <pre class="preview-text" aria-label="Headers it would send" tabIndex={0}>
            {Object.entries(preview.headers)
              .map(([name, value]) => `${name}: ${value}`)
              .join('\n')}
          </pre>
          <pre class="preview-text" aria-label="Body it would send" tabIndex={0}>
            {preview.body}
          </pre>
        </div>
      )}
      <button type="button" onClick={() => void save()} disabled={problem !== undefined}>
        Save the template
      </button>
      {saved && <span role="status"> Saved.</span>}
    </section>
  );
}

/** One delivery with every attempt: what the receiver answered, shown as text. */
export function DeliveryPage(props: { id: string }) {
  const [delivery, setDelivery] = useState<Delivery | undefined>();
  const [error, setError] = useState<string | undefined>();
  const path = `/v1/webhooks/deliveries/${props.id}`;
  const load = () =>
    kiln()
      .json<Delivery>('GET', path)
      .then(setDelivery, (failure: unknown) => setError(describeError(failure)));
  useEffect(() => {
    void load();
  }, [props.id]);
  // While it is pending (a resend under way, or retries to come), read it again every two seconds.
  useEffect(() => {
    if (delivery?.status !== 'pending') return;
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [delivery?.status]);
  const resend = async () => {
    setError(undefined);
    try {
      setDelivery(await kiln().json<Delivery>('POST', `${path}/retry`));
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  if (!delivery) return error ? <Alert message={error} /> : <p aria-busy="true">Loading…</p>;
  return (
    <>
      <h1>
        {delivery.event_type} to {delivery.url}
      </h1>
      <p>
        <span class={`status status-${delivery.status}`}>{delivery.status}</span>
        {delivery.next_attempt_at && <> · next attempt {when(delivery.next_attempt_at)}</>}
        {delivery.endpoint_id && (
          <>
            {' '}
            · <Link href={`/webhooks/endpoints/${delivery.endpoint_id}`}>its endpoint</Link>
          </>
        )}
      </p>
      <div class="actions">
        <button type="button" onClick={() => void resend()}>
          Resend now
        </button>
      </div>
      <Alert message={error} />
      <h2>Attempts</h2>
      {(delivery.attempts ?? []).length === 0 && <p>None yet.</p>}
      <ol class="attempts">
        {(delivery.attempts ?? []).map((a) => (
          <li key={a.attempt} aria-labelledby={`attempt-${a.attempt}`}>
            <h3 id={`attempt-${a.attempt}`}>
              Attempt {a.attempt} ({a.trigger}): {a.status_code ?? (a.error ? `${a.error.class}: ${a.error.message ?? ''}` : '–')}
            </h3>
            <p class="help">
              {when(a.started_at)}, {a.duration_ms} ms, to {a.url}
            </p>
            <div class="attempt-sides">
              <section aria-label={`Request of attempt ${a.attempt}`}>
                <h4>Request, as sent</h4>
                {a.request ? (
                  <>
                    <pre class="preview-text" tabIndex={0} aria-label={`Request headers of attempt ${a.attempt}`}>
                      {headerLines(a.request.headers)}
                    </pre>
                    <pre class="preview-text" tabIndex={0} aria-label={`Request body of attempt ${a.attempt}`}>
                      {a.request.body}
                    </pre>
                  </>
                ) : (
                  <p>Nothing was formed (or it is past retention).</p>
                )}
              </section>
              <section aria-label={`Response to attempt ${a.attempt}`}>
                <h4>Response</h4>
                {a.response_body_preview ? (
                  <pre class="preview-text" tabIndex={0} aria-label={`Response body of attempt ${a.attempt}`}>
                    {a.response_body_preview}
                  </pre>
                ) : (
                  <p>No body.</p>
                )}
              </section>
            </div>
          </li>
        ))}
      </ol>
    </>
  );
}

/** Every event type Kiln sends: what it means, the JSON Schema of its data, and an example body. */
export function EventCatalog() {
  const catalog = useEventCatalog();
  return (
    <>
      <h1>Event catalog</h1>
      <p>Each event is a JSON body {'{id, type, timestamp, data}'}; an endpoint receives the types it picks (none picked: all of them).</p>
      {catalog.length === 0 && <p aria-busy="true">Loading…</p>}
      {catalog.map((described) => (
        <section key={described.type} aria-labelledby={`type-${described.type}`} class="event-type">
          <h2 id={`type-${described.type}`}>
            <code>{described.type}</code>
          </h2>
          <p>{described.description}</p>
          <details>
            <summary>Schema of its data</summary>
            <pre class="preview-text" tabIndex={0} aria-label={`Schema of ${described.type}`}>
              {JSON.stringify(described.schema, null, 2)}
            </pre>
          </details>
          <details>
            <summary>Example body</summary>
            <pre class="preview-text" tabIndex={0} aria-label={`Example of ${described.type}`}>
              {JSON.stringify(described.example, null, 2)}
            </pre>
          </details>
        </section>
      ))}
    </>
  );
}
