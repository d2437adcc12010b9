import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a link opens: one conversion's output, the zip of a job's outputs, or the live event stream of either. */
export type LinkKind = 'download' | 'archive' | 'job-events' | 'conversion-events';

const PATHS: Record<LinkKind, (id: string) => string> = {
  download: (conversionId) => `/v1/downloads/${conversionId}`,
  archive: (jobId) => `/v1/jobs/${jobId}/archive`,
  'job-events': (jobId) => `/v1/jobs/${jobId}/events`,
  'conversion-events': (conversionId) => `/v1/conversions/${conversionId}/events`,
};

/** Stream links are for a page about to open its stream: they live minutes, not hours. */
const STREAM_KINDS: ReadonlySet<LinkKind> = new Set(['job-events', 'conversion-events']);

export type LinkVerdict = 'valid' | 'invalid' | 'expired';

/** Signed, expiring links to outputs that need no API key. */
export class DownloadSigner {
  constructor(
    private readonly key: string,
    /** Read at signing time: the API's own URL is known only once it listens. */
    readonly publicUrl: () => string,
    readonly ttlSeconds: number,
    /** Lifetime of event-stream links (KILN_STREAM_LINK_TTL_SECONDS). */
    readonly streamTtlSeconds: number = 900,
  ) {}

  // The kind is signed too, so a download link's signature never opens an archive (or the reverse).
  private signature(kind: LinkKind, id: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${kind}:${id}:${expires}`).digest('hex');
  }

  private link(kind: LinkKind, id: string, now: Date): { url: string; expiresAt: Date } {
    const expires = Math.floor(now.getTime() / 1000) + (STREAM_KINDS.has(kind) ? this.streamTtlSeconds : this.ttlSeconds);
    const url = `${this.publicUrl()}${PATHS[kind](id)}?expires=${expires}&signature=${this.signature(kind, id, expires)}`;
    return { url, expiresAt: new Date(expires * 1000) };
  }

  /** `invalid` when anything was tampered with (checked first, so a forged expiry is never "expired"). */
  check(kind: LinkKind, id: string, expires: string | undefined, signature: string | undefined, now: Date = new Date()): LinkVerdict {
    if (!expires || !/^\d{1,12}$/.test(expires) || !signature || !/^[0-9a-f]{64}$/.test(signature)) return 'invalid';
    const expected = Buffer.from(this.signature(kind, id, Number(expires)), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'invalid';
    return Number(expires) * 1000 <= now.getTime() ? 'expired' : 'valid';
  }

  /** A link to a conversion's output. */
  sign(conversionId: string, now: Date = new Date()): { url: string; expiresAt: Date } {
    return this.link('download', conversionId, now);
  }

  /**
   * A link to output `index` of a conversion with several (renditions); the first output's
   * link is `sign`'s. The index is signed with the id, so one output's link opens no other.
   */
  signOutput(conversionId: string, index: number, now: Date = new Date()): { url: string; expiresAt: Date } {
    if (index === 0) return this.sign(conversionId, now);
    const expires = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    const signature = this.signature('download', `${conversionId}/${index}`, expires);
    return {
      url: `${this.publicUrl()}${PATHS.download(conversionId)}?output=${index}&expires=${expires}&signature=${signature}`,
      expiresAt: new Date(expires * 1000),
    };
  }

  /** `invalid` when anything was tampered with (checked first, so a forged expiry is never "expired"). */
  verify(conversionId: string, expires: string | undefined, signature: string | undefined, now: Date = new Date(), index = 0): LinkVerdict {
    return this.check('download', index === 0 ? conversionId : `${conversionId}/${index}`, expires, signature, now);
  }

  /** A link to the zip of a job's outputs. */
  signArchive(jobId: string, now: Date = new Date()): { url: string; expiresAt: Date } {
    return this.link('archive', jobId, now);
  }

  /** A short-lived link to the live event stream of a job or a conversion (for EventSource, which cannot send an API key). */
  signStream(kind: 'job-events' | 'conversion-events', id: string, now: Date = new Date()): { url: string; expiresAt: Date } {
    return this.link(kind, id, now);
  }
}
