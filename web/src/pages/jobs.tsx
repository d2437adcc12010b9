import { useEffect, useState } from 'preact/hooks';
import { FINAL_STATUSES, type Conversion, type Job } from '../../../sdk/src/index.js';
import { CONVERSION_STATUSES } from './conversions.js';
import { when } from '../format.js';
import { Pager, useServerPage } from '../paging.js';
import { Link, useRoute } from '../router.js';
import { Alert, CREATED_RANGE, filterQuery, ListFilters, statusField, TemporalRunLink, type FilterField } from '../parts.js';
import { describeError, kiln } from '../session.js';

const JOB_FILTERS: readonly FilterField[] = [statusField(CONVERSION_STATUSES), ...CREATED_RANGE];

export function Jobs() {
  const { query } = useRoute();
  const filters = filterQuery(query, JOB_FILTERS);
  const status = filters.status;
  const page = useServerPage<Job>('/v1/jobs', filters);
  return (
    <>
      <h1>Jobs</h1>
      <ListFilters id="job-filter" fields={JOB_FILTERS} />
      <Alert message={page.error} />
      <table>
        <caption class="visually-hidden">Jobs{status ? `, ${status}` : ''}</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Status</th>
            <th scope="col">Files</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((job) => (
            <tr key={job.id}>
              <td>
                <Link href={`/jobs/${job.id}`}>{job.id}</Link>
              </td>
              <td>
                <span class={`status status-${job.status}`}>{job.status}</span>
              </td>
              <td>
                {job.counts.succeeded + job.counts.failed + job.counts.cancelled} of {job.counts.total} ended
                {job.counts.failed > 0 ? `, ${job.counts.failed} failed` : ''}
              </td>
              <td>{when(job.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!page.loading && page.items.length === 0 && !page.error && <p>No jobs{query.size > 0 ? ' match these filters' : ' yet'}.</p>}
      <Pager page={page} />
    </>
  );
}

/** A job: live progress from its event stream, a row per file (server paged), cancel, the archive. */
export function JobPage(props: { id: string }) {
  const [job, setJob] = useState<Job | undefined>();
  const [error, setError] = useState<string | undefined>();
  /** Files that ended since the page loaded, from the stream: a row shows its news without reloading its page. */
  const [ended, setEnded] = useState<Record<string, { status: string; code: string | null }>>({});
  const files = useServerPage<Conversion>(`/v1/jobs/${props.id}/conversions`, {}, 50);
  const load = () =>
    kiln()
      .getJob(props.id)
      .then(setJob, (failure: unknown) => setError(describeError(failure)));
  useEffect(() => {
    void load();
  }, [props.id]);
  useEffect(() => {
    if (!job || FINAL_STATUSES.includes(job.status)) return;
    const stop = new AbortController();
    kiln()
      .wait(job, {
        signal: stop.signal,
        onProgress: (event) => {
          const data = event.data as {
            counts?: Job['counts'];
            progress?: number;
            status?: string;
            file?: { conversion_id: string; status: string; error: { code: string } | null };
          };
          if (data.counts) setJob((current) => current && { ...current, counts: data.counts!, progress: data.progress ?? current.progress });
          const file = data.file;
          if (file) setEnded((seen) => ({ ...seen, [file.conversion_id]: { status: file.status, code: file.error?.code ?? null } }));
        },
      })
      .then(
        async () => {
          // Ended: the rows in view are read again, with their download links.
          await load();
          files.refresh();
        },
        () => undefined,
      );
    return () => stop.abort();
  }, [job?.id, job ? FINAL_STATUSES.includes(job.status) : false]);
  const cancel = async () => {
    try {
      await kiln().request('POST', `/v1/jobs/${props.id}/cancel`);
      await load();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  if (error) return <Alert message={error} />;
  if (!job) return <p aria-busy="true">Loading…</p>;
  const done = job.counts.succeeded + job.counts.failed + job.counts.cancelled;
  const archive = job.archive_url;
  return (
    <>
      <h1>Job {job.id}</h1>
      <p>
        <span class={`status status-${job.status}`}>{job.status}</span>
      </p>
      <label for="job-progress">
        {done} of {job.counts.total} files ended ({job.counts.running} running, {job.counts.failed} failed)
      </label>
      <progress id="job-progress" max={job.counts.total} value={done} />
      <div class="actions">
        {archive && (
          <a class="button" href={archive} download>
            Download the archive
          </a>
        )}
        {!FINAL_STATUSES.includes(job.status) && (
          <button type="button" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
        <TemporalRunLink workflowId={job.workflow_id} />
      </div>
      <table>
        <caption>Files</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">File</th>
            <th scope="col">Status</th>
            <th scope="col">Output</th>
          </tr>
        </thead>
        <tbody>
          {files.items.map((file) => {
            const news = ended[file.id];
            const status = news?.status ?? file.status;
            const code = news ? news.code : (file.error?.code ?? null);
            return (
              <tr key={file.id}>
                <td>{(file.job_index ?? 0) + 1}</td>
                <td>
                  <Link href={`/conversions/${file.id}`}>{file.input.filename}</Link>
                </td>
                <td>
                  <span class={`status status-${status}`}>{status}</span>
                  {code && <span class="code"> {code}</span>}
                </td>
                <td>
                  {file.download_url && (
                    <a href={file.download_url} download={file.output?.filename}>
                      Download {file.output?.filename}
                    </a>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <Pager page={files} />
    </>
  );
}
