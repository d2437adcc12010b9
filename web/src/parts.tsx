import { navigate } from './router.js';

/** A problem the page reports: read out at once by screen readers; nothing when there is none. */
export function Alert(props: { message: string | undefined; id?: string }) {
  if (!props.message) return null;
  return (
    <p id={props.id} class="error" role="alert">
      {props.message}
    </p>
  );
}

/**
 * A list's status filter, kept in the address (`?status=`), so a filtered view can be
 * bookmarked and the back button undoes it.
 */
export function StatusFilter(props: { id: string; path: string; statuses: readonly string[]; value: string }) {
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <label for={props.id}>Status</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(event) => {
          const status = (event.target as HTMLSelectElement).value;
          navigate(`${props.path}${status ? `?status=${encodeURIComponent(status)}` : ''}`);
        }}
      >
        <option value="">any</option>
        {props.statuses.map((status) => (
          <option value={status}>{status}</option>
        ))}
      </select>
    </form>
  );
}
