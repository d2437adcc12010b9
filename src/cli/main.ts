#!/usr/bin/env node
import type { ServerCommand } from './server-commands.js';

/** What this package's `kiln` adds to the client commands: running Kiln itself. */
const SERVER_COMMANDS = [
  { name: 'dev', summary: 'Run everything in one process on embedded defaults (what npm start runs)' },
  { name: 'api', summary: 'Run the HTTP API (needs DATABASE_URL, TEMPORAL_ADDRESS, KILN_SIGNING_KEY)' },
  { name: 'worker', summary: 'Run the Temporal workers (needs DATABASE_URL, TEMPORAL_ADDRESS, KILN_SIGNING_KEY, KILN_PUBLIC_URL)' },
  { name: 'migrate', summary: 'Apply database migrations and exit' },
  { name: 'keys create --account', summary: 'Operators: make the account if needed and print a new API key, in the database directly' },
] as const;

/** `keys create --account NAME` writes to the database; other `keys` commands are the API's. */
function serverCommand(argv: readonly string[]): ServerCommand | undefined {
  const [command, ...rest] = argv;
  if (command === 'dev' || command === 'api' || command === 'worker' || command === 'migrate') return command;
  if (command === 'keys' && rest[0] === 'create' && rest.some((arg) => arg === '--account' || arg.startsWith('--account='))) return 'keys';
  return undefined;
}

/*
 * The `kiln` of this package: the commands that run Kiln, and every client command, the
 * same code as the SDK package's `kiln` (docs/cli.md). Each loads only its own modules, so
 * a client command starts without the server's (Temporal, sharp, Postgres, the logger).
 */
const argv = process.argv.slice(2);
const server = serverCommand(argv);
if (server) await (await import('./server-commands.js')).runServerCommand(server, argv.slice(1));
else (await import('../../sdk/src/cli/main.js')).runCliProcess(SERVER_COMMANDS);
