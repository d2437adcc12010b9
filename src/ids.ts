import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `length` characters drawn uniformly from [0-9a-z]. */
export function randomAlnum(length: number): string {
  // 252 is the largest multiple of 36 below 256: rejecting bytes above it keeps the draw uniform.
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 252 && out.length < length) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

export type IdPrefix = 'acc' | 'key' | 'cnv' | 'evt' | 'ep' | 'dlv' | 'job' | 'pst' | 'ast';

/**
 * `<prefix>_<time><random>`: the time part (milliseconds, base 36, fixed width) makes
 * ids sort by creation, which list cursors rely on; 14 random characters make them unguessable.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${now.toString(36).padStart(9, '0')}${randomAlnum(14)}`;
}

/** The least id of `prefix` made at or after `time`: ids from it on were made from then on. */
export function idFloor(prefix: IdPrefix, time: number): string {
  return `${prefix}_${time.toString(36).padStart(9, '0')}${'0'.repeat(14)}`;
}

const ID_PATTERN = /^([a-z]{2,3})_[0-9a-z]{23}$/;

/** True for anything shaped like a Kiln id, whatever its prefix. */
export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return ID_PATTERN.exec(id)?.[1] === prefix;
}
