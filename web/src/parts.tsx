import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { navigate, useRoute } from './router.js';

/** A problem the page reports: read out at once by screen readers; nothing when there is none. */
export function Alert(props: { message: string | undefined; id?: string }) {
  if (!props.message) return null;
  return (
    <p id={props.id} class="error" role="alert">
      {props.message}
    </p>
  );
}

/** A secret Kiln shows this once (a new key, a sign-in link), announced, with what it is. */
export function ShownOnce(props: { secret: string; children: ComponentChildren }) {
  return (
    <div class="notice" role="status">
      <p>{props.children}</p>
      <p>
        <code class="secret">{props.secret}</code>
      </p>
    </div>
  );
}

/** One filter of a list: a choice, a text, or a time (the reader's local time, sent as ISO 8601). */
export interface FilterField {
  name: string;
  label: string;
  choices?: ReadonlyArray<string | { value: string; label: string }>;
  time?: boolean;
}

/** The status filter every list has. */
export const statusField = (statuses: readonly string[]): FilterField => ({ name: 'status', label: 'Status', choices: statuses });

/** The time range every list has: created from, created before. */
export const CREATED_RANGE: readonly FilterField[] = [
  { name: 'created_after', label: 'Created from', time: true },
  { name: 'created_before', label: 'Created before', time: true },
];

/** The list's filters as they stand in the address, in the form the API takes them. */
export function filterQuery(query: URLSearchParams, fields: readonly FilterField[]): Record<string, string | undefined> {
  return Object.fromEntries(
    fields.map((field) => {
      const value = query.get(field.name) ?? '';
      if (!value) return [field.name, undefined];
      if (!field.time) return [field.name, value];
      const time = new Date(value);
      return [field.name, Number.isNaN(time.getTime()) ? undefined : time.toISOString()];
    }),
  );
}

/**
 * A list's filters, kept in the address (`?status=…&created_after=…`), so a filtered view
 * can be bookmarked and the back button undoes a change. Each applies once it is chosen
 * or, for a text, once it is committed (Enter or leaving the field).
 */
export function ListFilters(props: { id: string; fields: readonly FilterField[] }) {
  const { path, query } = useRoute();
  const apply = (name: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(name, value);
    else next.delete(name);
    const search = next.toString();
    navigate(`${path}${search ? `?${search}` : ''}`);
  };
  return (
    <form class="filters" role="search" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
      {props.fields.map((field) => {
        const id = `${props.id}-${field.name}`;
        const value = query.get(field.name) ?? '';
        const onChange = (event: Event) => apply(field.name, (event.target as HTMLInputElement | HTMLSelectElement).value.trim());
        return (
          <span class="filter" key={field.name}>
            <label for={id}>{field.label}</label>
            {field.choices ? (
              <select id={id} value={value} onChange={onChange}>
                <option value="">any</option>
                {field.choices.map((choice) => {
                  const { value: optionValue, label } = typeof choice === 'string' ? { value: choice, label: choice } : choice;
                  return (
                    <option key={optionValue} value={optionValue}>
                      {label}
                    </option>
                  );
                })}
              </select>
            ) : field.time ? (
              <input id={id} type="datetime-local" value={value} onChange={onChange} />
            ) : (
              <input id={id} type="search" value={value} onChange={onChange} />
            )}
          </span>
        );
      })}
    </form>
  );
}

/** Where Kiln says the Temporal Web UI is (KILN_TEMPORAL_UI_URL), read once per tab. */
let temporalUi: Promise<{ temporal_ui_url: string | null; temporal_namespace: string }> | undefined;

/** A link to a run in the Temporal Web UI, when Kiln knows where the UI is. */
export function TemporalRunLink(props: { workflowId: string }) {
  const [href, setHref] = useState<string | undefined>();
  useEffect(() => {
    temporalUi ??= fetch('/app/config.json').then((response) => response.json() as Promise<{ temporal_ui_url: string | null; temporal_namespace: string }>);
    let current = true;
    temporalUi.then(
      (ui) => {
        if (current && ui.temporal_ui_url) {
          setHref(`${ui.temporal_ui_url}/namespaces/${encodeURIComponent(ui.temporal_namespace)}/workflows/${encodeURIComponent(props.workflowId)}`);
        }
      },
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [props.workflowId]);
  if (!href) return null;
  return (
    <a class="button" href={href} rel="noreferrer" target="_blank">
      Its run in the Temporal Web UI
    </a>
  );
}
