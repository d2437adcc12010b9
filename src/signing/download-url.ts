import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signed, expiring links to a conversion's output that need no API key. */
export class DownloadSigner {
  constructor(
    private readonly key: string,
    /** Read at signing time: the API's own URL is known only once it listens. */
    private readonly publicUrl: () => string,
    readonly ttlSeconds: number,
  ) {}

  private signature(conversionId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`download:${conversionId}:${expires}`).digest('hex');
  }

  sign(conversionId: string, now: Date = new Date()): { url: string; expiresAt: Date } {
    const expires = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    const url = `${this.publicUrl()}/v1/downloads/${conversionId}?expires=${expires}&signature=${this.signature(conversionId, expires)}`;
    return { url, expiresAt: new Date(expires * 1000) };
  }

  /** `invalid` when anything was tampered with (checked first, so a forged expiry is never "expired"). */
  verify(conversionId: string, expires: string | undefined, signature: string | undefined, now: Date = new Date()): 'valid' | 'invalid' | 'expired' {
    if (!expires || !/^\d{1,12}$/.test(expires) || !signature || !/^[0-9a-f]{64}$/.test(signature)) return 'invalid';
    const expected = Buffer.from(this.signature(conversionId, Number(expires)), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'invalid';
    return Number(expires) * 1000 <= now.getTime() ? 'expired' : 'valid';
  }
}
