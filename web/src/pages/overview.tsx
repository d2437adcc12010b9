import { useEffect, useState } from 'preact/hooks';
import { when } from '../format.js';
import { Link, navigate, useRoute } from '../router.js';
import { Alert } from '../parts.js';
import { describeError, kiln } from '../session.js';

interface Overview {
  since: string;
  hours: number;
  conversions: {
    by_status: Record<string, number>;
    by_format: Record<string, number>;
    failure_codes: Array<{ code: string; count: number }>;
    completion_ms: { p50: number; p95: number; count: number } | null;
  };
  deliveries: { by_status: Record<string, number> };
  failing_endpoints: Array<{ id: string; url: string; failing_since: string; enabled: boolean }>;
}

const WINDOWS = [
  { hours: 1, label: 'the last hour' },
  { hours: 24, label: 'the last 24 hours' },
  { hours: 168, label: 'the last 7 days' },
];

/**
 * A bar chart as a list: each row's label and count are text (what a screen reader reads),
 * the bar beside it only draws the same number.
 */
function Bars(props: { title: string; rows: Array<[string, number]>; empty: string }) {
  const max = Math.max(1, ...props.rows.map(([, n]) => n));
  const id = `chart-${props.title.toLowerCase().replace(/\W+/g, '-')}`;
  return (
    <section class="chart" aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      {props.rows.length === 0 ? (
        <p class="help">{props.empty}</p>
      ) : (
        <ul>
          {props.rows.map(([label, n]) => (
            <li key={label}>
              <span class="chart-label">{label}</span>
              <span class="chart-bar" aria-hidden="true">
                <span class={`chart-fill chart-${label}`} style={{ width: `${(100 * n) / max}%` }} />
              </span>
              <span class="chart-count">{n}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const sorted = (counts: Record<string, number>): Array<[string, number]> => Object.entries(counts).sort((a, b) => b[1] - a[1]);

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms / 1000)} s`;
}

/** The account's recent work at a glance, from GET /v1/overview. */
export function OverviewPage() {
  const { query } = useRoute();
  const hours = Number(query.get('hours') ?? 24) || 24;
  const [overview, setOverview] = useState<Overview | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    setOverview(undefined);
    void kiln()
      .json<Overview>('GET', `/v1/overview?hours=${hours}`)
      .then(setOverview, (failure: unknown) => setError(describeError(failure)));
  }, [hours]);
  return (
    <>
      <h1>Overview</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label for="window">Work created in</label>
        <select id="window" value={String(hours)} onChange={(event) => navigate(`/overview?hours=${(event.target as HTMLSelectElement).value}`)}>
          {WINDOWS.map((w) => (
            <option value={String(w.hours)}>{w.label}</option>
          ))}
        </select>
      </form>
      <Alert message={error} />
      {!overview && !error && <p aria-busy="true">Loading…</p>}
      {overview && (
        <div class="charts">
          <Bars title="Conversions by status" rows={sorted(overview.conversions.by_status)} empty="None in this window." />
          <Bars title="Conversions by format" rows={sorted(overview.conversions.by_format)} empty="None in this window." />
          <Bars title="Failure codes" rows={overview.conversions.failure_codes.map((f) => [f.code, f.count])} empty="No failures in this window." />
          <section class="chart" aria-labelledby="chart-completion">
            <h2 id="chart-completion">From upload to completion</h2>
            {overview.conversions.completion_ms ? (
              <dl>
                <dt>Median (p50)</dt>
                <dd>{seconds(overview.conversions.completion_ms.p50)}</dd>
                <dt>p95</dt>
                <dd>{seconds(overview.conversions.completion_ms.p95)}</dd>
                <dt>Over</dt>
                <dd>{overview.conversions.completion_ms.count} succeeded</dd>
              </dl>
            ) : (
              <p class="help">No conversion succeeded in this window.</p>
            )}
          </section>
          <Bars title="Deliveries by outcome" rows={sorted(overview.deliveries.by_status)} empty="None in this window." />
          <section class="chart" aria-labelledby="chart-failing">
            <h2 id="chart-failing">Endpoints failing now</h2>
            {overview.failing_endpoints.length === 0 ? (
              <p class="help">None.</p>
            ) : (
              <ul class="failing">
                {overview.failing_endpoints.map((endpoint) => (
                  <li key={endpoint.id}>
                    <Link href={`/webhooks/endpoints/${endpoint.id}`}>{endpoint.url}</Link> failing since {when(endpoint.failing_since)}
                    {endpoint.enabled ? '' : ' (disabled)'}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
    </>
  );
}
