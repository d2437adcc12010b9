import path from 'node:path';

// eslint-disable-next-line no-control-regex -- control characters are exactly what names lose
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
/**
 * The bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069): with them a
 * name such as `photo\u202Egnp.exe` shows as `photoexe.png` and hides its real extension.
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with each lone surrogate (which encodeURIComponent and UTF-8 cannot carry) replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** `text` without bidirectional controls. */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, '');
}

/** `text` without the control and bidirectional-control characters a name must not carry. */
export function withoutControls(text: string): string {
  return withoutBidiControls(text).replace(CONTROLS, '');
}

/**
 * A file name a user gave, as Kiln stores, shows and serves it: its last path segment
 * (either slash), well-formed, without control or bidirectional-control characters,
 * trimmed, at most 255 characters; `fallback` when nothing is left.
 */
export function safeFilename(raw: string | undefined, fallback: string): string {
  const base = withoutControls(path.posix.basename(wellFormed(raw ?? '').replace(/\\/g, '/'))).trim();
  return Array.from(base).slice(0, 255).join('') || fallback;
}
