import { inspect } from 'node:util';
import { pino, type Logger } from 'pino';
import type { LogLevel } from '@temporalio/worker';

export type { Logger };

/**
 * Kiln's structured log: one JSON object per line on stderr (stdout stays for command
 * output such as a new API key). Request lines carry `request_id`; activity lines carry
 * the workflow and activity ids Temporal adds. The level comes from KILN_LOG_LEVEL once
 * the settings are read (`setLogLevel`).
 */
export const logger: Logger = pino(
  { base: { service: 'kiln' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
  // Synchronous, so the lines written just before an exit are not lost.
  pino.destination({ fd: 2, sync: true }),
);

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export function setLogLevel(level: LogLevelName): void {
  logger.level = level;
}

/** `(message, error?)` for code that reports one thing: a warning with the error when there is one. */
export type LogFunction = (message: string, error?: unknown) => void;

export function logTo(target: Logger): LogFunction {
  return (message, error) => {
    if (error === undefined) target.info(message);
    else target.warn({ err: error instanceof Error ? error : new Error(inspect(error)) }, message);
  };
}

export const log: LogFunction = logTo(logger);

/** The levels of the Temporal SDK's native runtime, whose log goes through Kiln's (KILN_TEMPORAL_LOG_LEVEL). */
export const TEMPORAL_LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const satisfies readonly LogLevel[];
