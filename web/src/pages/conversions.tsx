import { useEffect, useState } from 'preact/hooks';
import { FINAL_STATUSES, type Conversion } from '../../../sdk/src/index.js';
import { dimensions, size, when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { Link, useRoute } from '../router.js';
import { Alert, CREATED_RANGE, filterQuery, ListFilters, statusField, TemporalRunLink, type FilterField } from '../parts.js';
import { describeError, kiln } from '../session.js';

/** The statuses of a conversion or a job, as the API filters by them. */
export const CONVERSION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

const CONVERSION_FILTERS: readonly FilterField[] = [
  statusField(CONVERSION_STATUSES),
  { name: 'output_format', label: 'Format', choices: ['jpeg', 'png', 'webp', 'avif', 'gif', 'tiff', 'jxl'] },
  { name: 'tag', label: 'Tag' },
  ...CREATED_RANGE,
];

/** Conversions, newest first, a server page at a time; the filters live in the address. */
export function Conversions() {
  const { query } = useRoute();
  const filters = filterQuery(query, CONVERSION_FILTERS);
  const status = filters.status;
  const page = useServerPage<Conversion>('/v1/conversions', filters);
  return (
    <>
      <h1>Conversions</h1>
      <ListFilters id="conversion-filter" fields={CONVERSION_FILTERS} />
      <Alert message={page.error} />
      <table>
        <caption class="visually-hidden">Conversions{status ? `, ${status}` : ''}</caption>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Status</th>
            <th scope="col">Output</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((c) => (
            <tr key={c.id}>
              <td>
                <Link href={`/conversions/${c.id}`}>{c.input.filename}</Link>
              </td>
              <td>
                <span class={`status status-${c.status}`}>{c.status}</span>
                {c.error && <span class="code"> {c.error.code}</span>}
              </td>
              <td>{c.output ? `${c.output.format} ${dimensions(c.output.width, c.output.height)}, ${size(c.output.bytes)}` : '–'}</td>
              <td>{when(c.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!page.loading && page.items.length === 0 && !page.error && <p>No conversions{query.size > 0 ? ' match these filters' : ' yet'}.</p>}
      <Pager page={page} />
    </>
  );
}

/** One conversion: input beside output, its options, its events in order and their deliveries, cancel and download. */
export function ConversionPage(props: { id: string }) {
  const [conversion, setConversion] = useState<Conversion | undefined>();
  const [events, setEvents] = useState<Array<{ id: string; type: string; timestamp: string }>>([]);
  const [error, setError] = useState<string | undefined>();
  const load = async () => {
    try {
      const client = kiln();
      setConversion(await client.getConversion(props.id));
      const page = await client.json<{ data: Array<{ id: string; type: string; timestamp: string }> }>('GET', `/v1/events?subject_id=${props.id}&limit=100`);
      setEvents([...page.data].reverse());
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  useEffect(() => {
    void load();
  }, [props.id]);
  // While it runs, follow it to its end, then show it as it ended.
  useEffect(() => {
    if (!conversion || FINAL_STATUSES.includes(conversion.status)) return;
    const stop = new AbortController();
    kiln()
      .wait(conversion, {
        signal: stop.signal,
        onProgress: (event) =>
          setEvents((seen) =>
            seen.some((e) => e.id === event.id) ? seen : [...seen, { id: event.id, type: event.type, timestamp: new Date().toISOString() }],
          ),
      })
      .then(
        () => load(),
        () => undefined,
      );
    return () => stop.abort();
  }, [conversion?.id, conversion?.status]);
  const cancel = async () => {
    try {
      await kiln().request('POST', `/v1/conversions/${props.id}/cancel`);
      await load();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  if (error) return <Alert message={error} />;
  if (!conversion) return <p aria-busy="true">Loading…</p>;
  const c = conversion;
  return (
    <>
      <h1>{c.input.filename}</h1>
      <p>
        <span class={`status status-${c.status}`}>{c.status}</span>{' '}
        {c.error && (
          <span class="code">
            {c.error.code}: {c.error.message}
          </span>
        )}
      </p>
      <div class="actions">
        {c.download_url && (
          <a class="button" href={c.download_url} download={c.output?.filename}>
            Download {c.output?.filename}
          </a>
        )}
        {(c.status === 'queued' || c.status === 'running') && (
          <button type="button" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
        <TemporalRunLink workflowId={c.workflow_id} />
      </div>
      <div class="side-by-side">
        <section aria-labelledby="input-heading">
          <h2 id="input-heading">Input</h2>
          <dl>
            <dt>File</dt>
            <dd>{c.input.filename}</dd>
            <dt>Format</dt>
            <dd>{c.input.format ?? '–'}</dd>
            <dt>Dimensions</dt>
            <dd>{dimensions(c.input.width, c.input.height)}</dd>
            <dt>Size</dt>
            <dd>{size(c.input.bytes)}</dd>
            {c.source_url && (
              <>
                <dt>From</dt>
                <dd>{c.source_url}</dd>
              </>
            )}
          </dl>
        </section>
        <section aria-labelledby="output-heading">
          <h2 id="output-heading">Output</h2>
          {c.output ? (
            <>
              {c.download_url && <img class="preview" src={c.download_url} alt={`The output, ${c.output.filename}`} />}
              <dl>
                <dt>File</dt>
                <dd>{c.output.filename}</dd>
                <dt>Format</dt>
                <dd>{c.output.format}</dd>
                <dt>Dimensions</dt>
                <dd>{dimensions(c.output.width, c.output.height)}</dd>
                <dt>Size</dt>
                <dd>{size(c.output.bytes)}</dd>
              </dl>
            </>
          ) : (
            <p>None yet.</p>
          )}
        </section>
      </div>
      <section aria-labelledby="options-heading">
        <h2 id="options-heading">Options</h2>
        {/* Focusable, so a keyboard can scroll it when it overflows. */}
        <pre tabIndex={0} aria-label="Options as JSON">
          {JSON.stringify(c.options, null, 2)}
        </pre>
      </section>
      <section aria-labelledby="events-heading">
        <h2 id="events-heading">Events</h2>
        <ol class="events">
          {events.map((event) => (
            <li key={event.id}>
              <span class="code">{event.type}</span> <time dateTime={event.timestamp}>{when(event.timestamp)}</time>
            </li>
          ))}
        </ol>
      </section>
      <EventDeliveries eventIds={events.map((event) => event.id)} />
      <p>
        {c.job_id && <Link href={`/jobs/${c.job_id}`}>Its job</Link>} <span class="code">{c.workflow_id}</span>
      </p>
    </>
  );
}

interface DeliveryRow {
  id: string;
  event_type: string;
  url: string;
  status: string;
  attempt_count: number;
}

/** The deliveries of these events (a conversion's), each linked to its attempts. */
function EventDeliveries(props: { eventIds: string[] }) {
  const [rows, setRows] = useState<DeliveryRow[] | undefined>();
  const key = props.eventIds.join(',');
  useEffect(() => {
    let current = true;
    void Promise.all(props.eventIds.map((id) => kiln().json<{ data: DeliveryRow[] }>('GET', `/v1/webhooks/deliveries?event_id=${id}&limit=100`))).then(
      (pages) => current && setRows(pages.flatMap((page) => page.data)),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [key]);
  return (
    <section aria-labelledby="conversion-deliveries-heading">
      <h2 id="conversion-deliveries-heading">Deliveries</h2>
      {rows && rows.length === 0 && <p>No webhook was sent for these events.</p>}
      {rows && rows.length > 0 && (
        <table>
          <caption class="visually-hidden">Deliveries of this conversion's events</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">To</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id}>
                <td>
                  <Link href={`/webhooks/deliveries/${row.id}`}>{row.event_type}</Link>
                </td>
                <td>{row.url}</td>
                <td>
                  <span class={`status status-${row.status}`}>{row.status}</span>
                </td>
                <td>{row.attempt_count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
