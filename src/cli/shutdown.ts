import { log } from '../log.js';

const CRASH_STOP_TIMEOUT_MS = 15_000;

/**
 * Runs `stop` once on SIGINT or SIGTERM, then exits; a second signal exits at once.
 * An uncaught exception or unhandled rejection also runs `stop` (bounded in time) and
 * exits 1, so what this process started (the dev server, converter processes) goes with it.
 */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const stopOnce = (reason: string, exitCode: number): void => {
    if (stopping) {
      log(`${reason} again: exiting now`);
      process.exit(exitCode || 130);
    }
    stopping = true;
    const force = exitCode ? setTimeout(() => process.exit(exitCode), CRASH_STOP_TIMEOUT_MS) : undefined;
    force?.unref();
    stop().then(
      () => process.exit(exitCode),
      (error) => {
        log('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) log(`${signal}: stopping (press Ctrl-C again to force)`);
    stopOnce(signal, 0);
  };
  const onCrash = (error: unknown): void => {
    log('unexpected error: stopping', error);
    stopOnce('unexpected error', 1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
}
