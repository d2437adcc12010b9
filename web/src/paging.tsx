import { useEffect, useState } from 'preact/hooks';
import type { Kiln } from '../../sdk/src/index.js';
import { describeError, kiln } from './session.js';

interface PageState<T> {
  items: T[];
  loading: boolean;
  error: string | undefined;
  hasNext: boolean;
  hasPrevious: boolean;
  next: () => void;
  previous: () => void;
  /** Reads the page in view again. */
  refresh: () => void;
}

/**
 * One page of a list at a time, as the server pages it (never the whole list): `next`
 * follows the page's cursor, `previous` goes back along the cursors already followed.
 * A change of `query` starts again from the first page.
 */
export function useServerPage<T>(path: string, query: Record<string, string | undefined>, limit = 25, client: () => Kiln = kiln): PageState<T> {
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [reads, setReads] = useState(0);
  const [state, setState] = useState<{ items: T[]; next: string | null; loading: boolean; error?: string }>({ items: [], next: null, loading: true });
  const queryKey = JSON.stringify(query);
  useEffect(() => setCursors([undefined]), [path, queryKey]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    const params = new URLSearchParams({ limit: String(limit) });
    for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
    if (cursor) params.set('cursor', cursor);
    client()
      .json<{ data: T[]; next_cursor: string | null }>('GET', `${path}?${params.toString()}`)
      .then(
        (page) => current && setState({ items: page.data, next: page.next_cursor, loading: false }),
        (error: unknown) => current && setState({ items: [], next: null, loading: false, error: describeError(error) }),
      );
    return () => {
      current = false;
    };
  }, [path, queryKey, cursor, limit, reads]);
  return {
    items: state.items,
    loading: state.loading,
    error: state.error,
    hasNext: state.next !== null,
    hasPrevious: cursors.length > 1,
    next: () => state.next && setCursors([...cursors, state.next]),
    previous: () => setCursors(cursors.slice(0, -1)),
    refresh: () => setReads((n) => n + 1),
  };
}

/** Previous and next, under a list. */
export function Pager(props: { page: Pick<PageState<unknown>, 'hasNext' | 'hasPrevious' | 'next' | 'previous' | 'loading'> }) {
  const { page } = props;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" onClick={page.previous} disabled={!page.hasPrevious || page.loading}>
        Previous
      </button>
      <button type="button" onClick={page.next} disabled={!page.hasNext || page.loading}>
        Next
      </button>
    </nav>
  );
}
