import { Kiln } from '../client.js';
import { KilnError } from '../errors.js';
import { Flags, parseArgs, UsageError } from './args.js';
import { makeContext, readStdin, show, table, type Command, type Io } from './command.js';
import { CONVERT_COMMANDS } from './convert.js';
import { CLIENT_VARIABLES, listProfiles, removeProfile, saveProfile, useProfile } from './profiles.js';
import { RESOURCE_COMMANDS } from './resources.js';
import { WEBHOOK_COMMANDS } from './webhooks.js';

/** Flags every command takes. */
const GLOBAL_OPTIONS = [
  ['--json', 'print JSON for scripts (one object per line where events stream)'],
  ['--profile NAME', 'which saved login to use (default: the current one; KILN_URL and KILN_API_KEY override it)'],
  ['--help', 'this command’s options and examples'],
] as const;

const PROFILE_COMMANDS: Command[] = [
  {
    name: 'login',
    summary: 'Save a Kiln URL and API key as a profile (checked against the server first)',
    options: [
      ['--url URL', "the Kiln's address, e.g. http://127.0.0.1:3000"],
      ['--key KEY', 'an API key (kiln_…); - reads it from stdin, kept out of shell history'],
    ],
    examples: [
      'kiln login --url http://127.0.0.1:3000 --key "$(cat .kiln/dev-api-key)"',
      'kiln login --profile prod --url https://kiln.example.com --key - < key.txt',
    ],
    async run(ctx) {
      const url = ctx.flags.required('url', "the Kiln's address");
      let key = ctx.flags.string('key') ?? ctx.io.env.KILN_API_KEY;
      ctx.flags.noneLeft();
      if (key === '-') key = (await readStdin(ctx.io)).trim();
      if (!key) throw new UsageError('--key is required: an API key (kiln_…)');
      if (!/^https?:\/\/[^/]+/i.test(url)) throw new UsageError(`--url must be http(s)://host[:port], not ${JSON.stringify(url)}`);
      // A key that does not work is not saved.
      await new Kiln({ url, apiKey: key, maxTries: 2 }).json('GET', '/v1/usage');
      const name = ctx.flags.string('profile') ?? 'default';
      const file = saveProfile(ctx.io.env, name, { url: url.replace(/\/+$/, ''), api_key: key });
      show(ctx, { profile: name, url, file }, () => `logged in to ${url} as profile ${name} (saved in ${file})`);
    },
  },
  {
    name: 'logout',
    summary: 'Forget a profile',
    examples: ['kiln logout', 'kiln logout --profile prod'],
    run(ctx) {
      const name = ctx.flags.string('profile') ?? listProfiles(ctx.io.env).find((p) => p.current)?.name ?? 'default';
      ctx.flags.noneLeft();
      const removed = removeProfile(ctx.io.env, name);
      show(ctx, { profile: name, removed }, () => (removed ? `forgot profile ${name}` : `no profile ${name}`));
    },
  },
  {
    name: 'profiles',
    summary: 'The saved profiles; --use NAME makes one current',
    options: [['--use NAME', 'the profile commands use when none is named']],
    examples: ['kiln profiles', 'kiln profiles --use prod'],
    run(ctx) {
      const use = ctx.flags.string('use');
      ctx.flags.noneLeft();
      if (use) useProfile(ctx.io.env, use);
      show(ctx, listProfiles(ctx.io.env), (rows: Array<{ name: string; url: string; current: boolean }>) =>
        rows.length === 0 ? 'no profiles: kiln login --url … --key … saves one' : table(rows, ['name', 'url', 'current']),
      );
    },
  },
];

/** The order help lists commands in: by their first word. */
const GROUPS = [
  'login',
  'logout',
  'profiles',
  'convert',
  'conversions',
  'jobs',
  'presets',
  'assets',
  'events',
  'listen',
  'verify',
  'endpoints',
  'deliveries',
  'recover',
  'keys',
  'sign-in-link',
  'usage',
];

/** Every client command, in the order help lists them. */
export const CLIENT_COMMANDS: readonly Command[] = [...PROFILE_COMMANDS, ...CONVERT_COMMANDS, ...RESOURCE_COMMANDS, ...WEBHOOK_COMMANDS].sort(
  (a, b) => GROUPS.indexOf(a.name.split(' ')[0]!) - GROUPS.indexOf(b.name.split(' ')[0]!),
);

const COMPLETION_COMMAND: Command = {
  name: 'completion',
  summary: 'A shell completion script: bash or zsh',
  usage: 'bash|zsh',
  examples: ['kiln completion bash > ~/.local/share/bash-completion/completions/kiln', "echo 'source <(kiln completion zsh)' >> ~/.zshrc"],
  run(ctx) {
    ctx.flags.noneLeft();
    const shell = ctx.args[0];
    if (shell !== 'bash' && shell !== 'zsh') throw new UsageError('name a shell: kiln completion bash, or kiln completion zsh');
    ctx.out(completionScript(shell, allCommands()));
  },
};

/** Commands the server's `kiln` adds (dev, api, …), listed in help beside the client's. */
let serverCommands: ReadonlyArray<{ name: string; summary: string }> = [];

function allCommands(): Command[] {
  return [...CLIENT_COMMANDS, COMPLETION_COMMAND];
}

function flagName(option: string): string {
  return option.split(' ')[0]!;
}

/** Help for one command: usage, options, examples. */
function commandHelp(command: Command): string {
  const options = [...(command.options ?? []), ...GLOBAL_OPTIONS];
  const width = Math.max(...options.map(([flag]) => flag.length));
  return [
    `${command.summary}`,
    '',
    `Usage: kiln ${command.name}${command.usage ? ` ${command.usage}` : ''}${command.options?.length || command.passesOptions ? ' [options]' : ''}`,
    '',
    'Options:',
    ...options.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
    ...(command.passesOptions ? ['', `  ${command.passesOptions}`] : []),
    ...(command.examples?.length ? ['', 'Examples:', ...command.examples.map((example) => `  ${example}`)] : []),
  ].join('\n');
}

/** Help for everything. */
export function overallHelp(): string {
  const commands = [...serverCommands, ...allCommands()];
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'kiln: convert images and manage webhooks on a Kiln server, from the command line',
    '',
    'Usage: kiln <command> [options]      kiln <command> --help for its options and examples',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every client command takes --json and --profile NAME. A Kiln and its key come from',
    '`kiln login` (saved per profile, 0600, in ~/.config/kiln), or the environment:',
    ...Object.entries(CLIENT_VARIABLES).map(([name, description]) => `  ${name.padEnd(width)}  ${description}`),
    'Exit codes: 0 done, 1 it failed (a conversion failed, Kiln said no), 2 the command line was wrong.',
  ].join('\n');
}

/** The command named by the first words of `argv`, and the words after its name. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const words = argv.filter((word) => !word.startsWith('-'));
  for (const length of [2, 1]) {
    const name = words.slice(0, length).join(' ');
    const command = allCommands().find((c) => c.name === name);
    if (command) {
      // Drop the name's words from argv, wherever flags sat between them.
      const rest = [...argv];
      for (const word of name.split(' ')) rest.splice(rest.indexOf(word), 1);
      return { command, rest };
    }
  }
  return undefined;
}

/** The group a word names (`endpoints`), for a helpful error when the subcommand is missing. */
function groupHelp(word: string): string | undefined {
  const members = allCommands().filter((c) => c.name.startsWith(`${word} `));
  if (members.length === 0) return undefined;
  const width = Math.max(...members.map((c) => c.name.length));
  return [`kiln ${word}: one of`, ...members.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)].join('\n');
}

/**
 * Runs one client command line; answers the exit code: 0 done, 1 failed (Kiln refused, a
 * conversion failed), 2 usage (the command line, or input Kiln rejected as malformed).
 */
export async function runCli(argv: readonly string[], io: Io, server: ReadonlyArray<{ name: string; summary: string }> = []): Promise<number> {
  serverCommands = server;
  const err = (line: string): void => void io.stderr.write(`${line}\n`);
  if (argv.length === 0 || argv[0] === 'help' || ((argv[0] === '--help' || argv[0] === '-h') && argv.length === 1)) {
    io.stdout.write(`${overallHelp()}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = groupHelp(argv[0]!);
    err(group ?? `kiln: unknown command ${argv.filter((w) => !w.startsWith('-')).join(' ')}\n\n${overallHelp()}`);
    return argv.includes('--help') && group ? 0 : 2;
  }
  const { command, rest } = found;
  try {
    const flags = new Flags(parseArgs(rest, new Set(['json', 'help', ...(command.booleans ?? [])])));
    if (flags.boolean('help')) {
      io.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    const ctx = makeContext(io, flags.positionals(), flags);
    return (await command.run(ctx)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`kiln ${command.name}: ${error.message}\n(kiln ${command.name} --help shows its options)`);
      return 2;
    }
    if (error instanceof KilnError) {
      // One field's error is already the message; several are listed.
      const fields =
        Array.isArray(error.problem.errors) && error.problem.errors.length > 1
          ? (error.problem.errors as Array<{ field?: string; path?: string; message?: string }>).map((e) => `  ${e.field ?? e.path ?? ''}: ${e.message ?? ''}`)
          : [];
      const hint = error.status === 401 ? '\n(kiln login --url … --key … saves a key that works)' : error.status === 0 ? `\n(is Kiln running there?)` : '';
      err([`kiln ${command.name}: ${error.code}: ${error.message}`, ...fields].join('\n') + hint);
      // Kiln refusing the input as malformed is the command line's fault too.
      return error.status === 400 ? 2 : 1;
    }
    throw error;
  }
}

/** A completion script from the commands: their words, then each one's flags. */
export function completionScript(shell: 'bash' | 'zsh', commands: readonly Command[]): string {
  const groups = new Map<string, string[]>();
  const top = new Set<string>();
  for (const command of commands) {
    const [first, second] = command.name.split(' ');
    top.add(first!);
    if (second) groups.set(first!, [...(groups.get(first!) ?? []), second]);
  }
  const globals = GLOBAL_OPTIONS.map(([flag]) => flagName(flag));
  const cases = [
    `    "") opts="${[...top, ...serverCommands.map((c) => c.name)].join(' ')}" ;;`,
    ...[...groups].map(([group, members]) => `    "${group}") opts="${members.join(' ')}" ;;`),
    ...commands.map((command) => {
      const flags = [...(command.options ?? []).map(([flag]) => flagName(flag)), ...globals];
      return `    "${command.name}"|"${command.name} "*) opts="${flags.join(' ')}" ;;`;
    }),
  ];
  const bash = [
    '# kiln completion (bash); zsh loads it through bashcompinit',
    '_kiln() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" words="" i opts=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    case "${COMP_WORDS[i]}" in -*) ;; *) words="${words:+$words }${COMP_WORDS[i]}" ;; esac',
    '  done',
    '  case "$words" in',
    ...cases,
    '  esac',
    '  if [[ -z "$words" || "$cur" == -* ]] || [[ " $opts " != *" --"* ]]; then',
    '    COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
    '  fi',
    '}',
    'complete -o default -F _kiln kiln',
  ].join('\n');
  return shell === 'bash' ? bash : ['autoload -U +X bashcompinit && bashcompinit', bash].join('\n');
}

/**
 * `kiln` as a process: runs the command line given, then exits with its code, not waiting
 * for idle keep-alive connections to close (Linux writes stdout synchronously, so nothing
 * is lost). `server` names the commands of the server's own `kiln`, for help.
 */
export function runCliProcess(server: ReadonlyArray<{ name: string; summary: string }> = []): void {
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
  runCli(process.argv.slice(2), io, server).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error('kiln: unexpected error', error);
      process.exit(1);
    },
  );
}
