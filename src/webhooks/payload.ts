import type { EventRow } from '../db/schema.js';
import type { DownloadSigner } from '../signing/download-url.js';
import { JOB_FINAL_EVENT_TYPES } from '../model/event-catalog.js';
import { signRenditions } from '../conversions/event-data.js';

/** Whether a job's counts include a succeeded file, whose output its archive holds. */
function hasOutputs(counts: unknown): boolean {
  return (
    typeof counts === 'object' &&
    counts !== null &&
    typeof (counts as { succeeded?: unknown }).succeeded === 'number' &&
    (counts as { succeeded: number }).succeeded > 0
  );
}

/**
 * The JSON body of an event as receivers get it. A completed conversion's download link
 * (and an ended job's archive link) is signed at `now`, the moment of the attempt, so a
 * late retry still carries a live link.
 */
export function webhookEnvelope(event: EventRow, signer: DownloadSigner | undefined, now: Date): Record<string, unknown> {
  const data = { ...event.data };
  if (event.type === 'conversion.completed' && signer && typeof data.conversion_id === 'string') {
    const { url, expiresAt } = signer.sign(data.conversion_id, now);
    data.download_url = url;
    data.download_expires_at = expiresAt.toISOString();
    if (Array.isArray(data.outputs)) data.outputs = signRenditions(data.outputs as Array<{ index: number }>, data.conversion_id, signer, now);
  }
  if (JOB_FINAL_EVENT_TYPES.has(event.type) && signer && typeof data.job_id === 'string' && hasOutputs(data.counts)) {
    const { url, expiresAt } = signer.signArchive(data.job_id, now);
    data.archive_url = url;
    data.archive_expires_at = expiresAt.toISOString();
  }
  return { id: event.id, type: event.type, timestamp: event.created_at.toISOString(), data };
}
