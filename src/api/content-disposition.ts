import { wellFormed } from '../filenames.js';

/**
 * `Content-Disposition` for any filename (RFC 6266): an ASCII `filename` for old clients
 * and, when the name is not plain ASCII, `filename*` with its UTF-8 bytes percent-encoded
 * (RFC 8187). Node refuses header values with characters past U+00FF, so the raw name
 * never goes into the header.
 */
export function contentDisposition(filename: string, disposition: 'inline' | 'attachment' = 'inline'): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  if (fallback === filename) return `${disposition}; filename="${filename}"`;
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(filename)}`;
}

/** Percent-encodes everything outside RFC 8187's attr-char set. */
function encodeRfc8187(value: string): string {
  return encodeURIComponent(wellFormed(value)).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
