#!/usr/bin/env node
import { runCli } from './main.js';

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
runCli(process.argv.slice(2), io).then(
  // Not waiting for idle keep-alive connections to close (Linux writes stdout synchronously, so nothing is lost).
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('kiln: unexpected error', error);
    process.exit(1);
  },
);
