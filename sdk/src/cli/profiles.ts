import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './args.js';

/** The environment variables the command line reads (the server's settings are another list: docs/configuration.md). */
export const CLIENT_VARIABLES = {
  KILN_URL: "the Kiln to talk to, in place of the profile's",
  KILN_API_KEY: "the API key, in place of the profile's",
  KILN_PROFILE: 'the profile to use when --profile names none',
  KILN_CONFIG_DIR: 'where profiles.json is kept',
} as const;

/** Where a Kiln is and the key to it. */
export interface Profile {
  url: string;
  api_key: string;
}

interface ProfilesFile {
  /** The profile used when none is named. */
  current: string;
  profiles: Record<string, Profile>;
}

/** `KILN_CONFIG_DIR`, else the user's config directory: `$XDG_CONFIG_HOME/kiln`, `~/.config/kiln`, or `%APPDATA%\kiln`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_CONFIG_DIR) return env.KILN_CONFIG_DIR;
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'kiln');
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'kiln');
}

const fileOf = (env: NodeJS.ProcessEnv): string => path.join(configDir(env), 'profiles.json');

function read(env: NodeJS.ProcessEnv): ProfilesFile {
  const file = fileOf(env);
  if (!existsSync(file)) return { current: 'default', profiles: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ProfilesFile;
    return { current: parsed.current ?? 'default', profiles: parsed.profiles ?? {} };
  } catch (error) {
    throw new UsageError(`${file} is not readable JSON (${(error as Error).message}); fix or remove it`);
  }
}

/** Written whole, then renamed into place, readable by its owner alone: it holds API keys. */
function write(env: NodeJS.ProcessEnv, contents: ProfilesFile): string {
  const file = fileOf(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return file;
}

export function saveProfile(env: NodeJS.ProcessEnv, name: string, profile: Profile): string {
  const contents = read(env);
  contents.profiles[name] = profile;
  // The first profile saved, or one saved by name while none is current, becomes current.
  if (!contents.profiles[contents.current]) contents.current = name;
  return write(env, contents);
}

export function removeProfile(env: NodeJS.ProcessEnv, name: string): boolean {
  const contents = read(env);
  if (!contents.profiles[name]) return false;
  delete contents.profiles[name];
  if (contents.current === name) contents.current = Object.keys(contents.profiles)[0] ?? 'default';
  write(env, contents);
  return true;
}

export function useProfile(env: NodeJS.ProcessEnv, name: string): void {
  const contents = read(env);
  if (!contents.profiles[name]) throw new UsageError(`no profile ${name}; kiln profiles lists them`);
  contents.current = name;
  write(env, contents);
}

export function listProfiles(env: NodeJS.ProcessEnv): Array<{ name: string; url: string; current: boolean }> {
  const contents = read(env);
  return Object.entries(contents.profiles).map(([name, profile]) => ({ name, url: profile.url, current: name === contents.current }));
}

/**
 * The Kiln a command talks to: `--profile` (or `KILN_PROFILE`, or the current profile),
 * with `KILN_URL` and `KILN_API_KEY` taking the place of its fields when set.
 */
export function resolveProfile(env: NodeJS.ProcessEnv, named: string | undefined): Profile & { name: string } {
  const contents = read(env);
  const name = named ?? (env.KILN_PROFILE || contents.current);
  const stored = contents.profiles[name];
  if (named && !stored) throw new UsageError(`no profile ${named}; kiln login --profile ${named} --url … --key … makes it`);
  const url = env.KILN_URL || stored?.url;
  const apiKey = env.KILN_API_KEY || stored?.api_key;
  if (!url || !apiKey) {
    throw new UsageError('not logged in: run kiln login --url http://127.0.0.1:3000 --key kiln_… (or set KILN_URL and KILN_API_KEY)');
  }
  return { name, url, api_key: apiKey };
}
