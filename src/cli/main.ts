#!/usr/bin/env node
import { ConfigError } from '../config.js';
import { EmbeddedDatabaseInUseError } from '../db/embedded-lock.js';
import { log } from '../log.js';

/** What this package's `kiln` adds to the client commands: running Kiln itself. */
const SERVER_COMMANDS = [
  { name: 'dev', summary: 'Run everything in one process on embedded defaults (what npm start runs)' },
  { name: 'api', summary: 'Run the HTTP API (needs DATABASE_URL, TEMPORAL_ADDRESS, KILN_SIGNING_KEY)' },
  { name: 'worker', summary: 'Run the Temporal workers (needs DATABASE_URL, TEMPORAL_ADDRESS, KILN_SIGNING_KEY, KILN_PUBLIC_URL)' },
  { name: 'migrate', summary: 'Apply database migrations and exit' },
  { name: 'keys create --account', summary: 'Operators: make the account if needed and print a new API key, in the database directly' },
] as const;

/** `keys create --account NAME` writes to the database; other `keys` commands are the API's. */
function serverCommand(argv: readonly string[]): 'dev' | 'api' | 'worker' | 'migrate' | 'keys' | undefined {
  const [command, ...rest] = argv;
  if (command === 'dev' || command === 'api' || command === 'worker' || command === 'migrate') return command;
  if (command === 'keys' && rest[0] === 'create' && rest.some((arg) => arg === '--account' || arg.startsWith('--account='))) return 'keys';
  return undefined;
}

/**
 * The `kiln` of this package: the commands that run Kiln, loaded only for them, and every
 * client command, the same code as the SDK package's `kiln` (docs/cli.md).
 */
async function main(argv: string[]): Promise<void> {
  const server = serverCommand(argv);
  if (server) {
    const { runServerCommand } = await import('./server-commands.js');
    return runServerCommand(server, argv.slice(1));
  }
  const { runCli } = await import('../../sdk/src/cli/main.js');
  const code = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }, SERVER_COMMANDS);
  // Not waiting for idle keep-alive connections to close (Linux writes stdout synchronously, so nothing is lost).
  process.exit(code);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof EmbeddedDatabaseInUseError) {
    console.error(`kiln: ${error.message}`);
    process.exit(2);
  }
  log('fatal', error);
  process.exit(1);
});
