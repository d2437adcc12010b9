/**
 * Checks on text and JSON from users before any of it reaches Postgres, which refuses
 * NUL in text and jsonb and overflows its stack on very deep jsonb.
 */

const MAX_JSON_DEPTH = 32;

/** Text without NUL, as a schema pattern: the document says what readJsonBody refuses. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what the pattern excludes
export const NUL_FREE = /^[^\u0000]*$/;

export function hasNul(text: string): boolean {
  return text.includes('\u0000');
}

/** Why `value` cannot be stored (a NUL anywhere in a key or string, or nesting past `maxDepth`), or undefined. */
export function unstorableJson(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  // Iterative, so a hostile nesting depth cannot overflow this stack either.
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: item, depth } = stack.pop()!;
    if (typeof item === 'string') {
      if (hasNul(item)) return 'strings must not contain NUL (\\u0000)';
    } else if (item !== null && typeof item === 'object') {
      if (depth >= maxDepth) return `JSON must not nest deeper than ${maxDepth} levels`;
      for (const [key, child] of Object.entries(item)) {
        if (hasNul(key)) return 'keys must not contain NUL (\\u0000)';
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
  return undefined;
}
