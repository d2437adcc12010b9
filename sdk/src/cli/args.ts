/** A command line split into its words and its `--flags`. */
export interface ParsedArgs {
  positionals: string[];
  /** Each flag's values in the order given (`true` for a flag given without a value). */
  flags: Map<string, Array<string | true>>;
}

/** A usage error: the command line itself is wrong (exit 2). */
export class UsageError extends Error {}

/**
 * Splits `argv`: `--name value`, `--name=value`, `--no-name` (the value `false`), and
 * flags in `booleans` that take no value. `--` ends the flags. A flag may repeat.
 */
export function parseArgs(argv: readonly string[], booleans: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, Array<string | true>>();
  const add = (name: string, value: string | true): void => {
    flags.set(name, [...(flags.get(name) ?? []), value]);
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (word === '-h') {
      add('help', true);
      continue;
    }
    if (!word.startsWith('--') || word.length === 2) {
      positionals.push(word);
      continue;
    }
    const equals = word.indexOf('=');
    if (equals > 0) {
      add(word.slice(2, equals), word.slice(equals + 1));
      continue;
    }
    const name = word.slice(2);
    if (booleans.has(name)) add(name, true);
    else if (name.startsWith('no-') && booleans.has(name.slice(3))) add(name.slice(3), 'false');
    else if (name.startsWith('no-')) add(name.slice(3), 'false');
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) add(name, true);
      else {
        add(name, next);
        i++;
      }
    }
  }
  return { positionals, flags };
}

/** Reads a command's flags: each read is checked, and `rest()` hands over the ones no read took. */
export class Flags {
  private readonly taken = new Set<string>();

  constructor(private readonly parsed: ParsedArgs) {}

  /** The words that are not flags (a command's own name taken out). */
  positionals(): string[] {
    return [...this.parsed.positionals];
  }

  has(name: string): boolean {
    this.taken.add(name);
    return this.parsed.flags.has(name);
  }

  /** The flag's last value as text; a usage error when it was given without one. */
  string(name: string): string | undefined {
    this.taken.add(name);
    const value = this.parsed.flags.get(name)?.at(-1);
    if (value === true) throw new UsageError(`--${name} needs a value`);
    return value;
  }

  required(name: string, what = 'a value'): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`--${name} is required: ${what}`);
    return value;
  }

  /** Every value given, commas splitting each: `--events a,b --events c` → [a, b, c]. */
  list(name: string): string[] | undefined {
    this.taken.add(name);
    const values = this.parsed.flags.get(name);
    if (!values) return undefined;
    return values.flatMap((value) => {
      if (value === true) throw new UsageError(`--${name} needs a value`);
      return value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
    });
  }

  /** Every value given, each whole (`--header "a: b, c"` keeps its comma). */
  all(name: string): string[] {
    this.taken.add(name);
    return (this.parsed.flags.get(name) ?? []).map((value) => {
      if (value === true) throw new UsageError(`--${name} needs a value`);
      return value;
    });
  }

  boolean(name: string): boolean {
    this.taken.add(name);
    const value = this.parsed.flags.get(name)?.at(-1);
    if (value === undefined) return false;
    if (value === true || value === 'true') return true;
    if (value === 'false') return false;
    throw new UsageError(`--${name} takes no value (or true/false), not ${JSON.stringify(value)}`);
  }

  number(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const number = Number(value);
    if (!Number.isFinite(number)) throw new UsageError(`--${name} must be a number, not ${JSON.stringify(value)}`);
    return number;
  }

  /** The flags no read took, in the order given. */
  rest(): Array<[string, string | true]> {
    return [...this.parsed.flags].filter(([name]) => !this.taken.has(name)).flatMap(([name, values]) => values.map((v): [string, string | true] => [name, v]));
  }

  /** A usage error naming any flag the command does not know. */
  noneLeft(): void {
    const left = this.rest();
    if (left.length > 0) throw new UsageError(`unknown option ${left.map(([name]) => `--${name}`).join(', ')}`);
  }
}

/**
 * A flag's value as the API takes it: a number, true/false, null, or JSON (an object or a
 * list), else the text itself.
 */
export function apiValue(value: string | true): unknown {
  if (value === true) return true;
  if (value === 'true' || value === 'false' || value === 'null') return JSON.parse(value);
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (/^[[{]/.test(value.trim())) {
    try {
      return JSON.parse(value);
    } catch {
      throw new UsageError(`not valid JSON: ${value.slice(0, 80)}`);
    }
  }
  return value;
}

/** `--strip-metadata` → `strip_metadata`: the API's field names. */
export const fieldName = (flag: string): string => flag.replaceAll('-', '_');
