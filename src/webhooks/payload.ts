import type { EventRow } from '../db/schema.js';
import type { DownloadSigner } from '../signing/download-url.js';

/**
 * The JSON body of an event as receivers get it. A completed conversion's download link
 * is signed at `now`, the moment of the attempt, so a late retry still carries a live link.
 */
export function webhookEnvelope(event: EventRow, signer: DownloadSigner | undefined, now: Date): Record<string, unknown> {
  const data = { ...event.data };
  if (event.type === 'conversion.completed' && signer && typeof data.conversion_id === 'string') {
    const { url, expiresAt } = signer.sign(data.conversion_id, now);
    data.download_url = url;
    data.download_expires_at = expiresAt.toISOString();
  }
  return { id: event.id, type: event.type, timestamp: event.created_at.toISOString(), data };
}
