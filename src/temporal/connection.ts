import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { logger } from '../log.js';

let runtimeInstalled = false;

/**
 * Temporal's native runtime is process-wide; Kiln installs it once, logging through
 * Kiln's own structured log at `level`, and without signal handlers of its own. With
 * `metricsAddress`, the SDK's own metrics (polls, task latencies, slots) are served there
 * in Prometheus's format, for the worker's /metrics to pass on.
 */
export function installTemporalRuntime(level: LogLevel = 'WARN', metricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const temporal = logger.child({ component: 'temporal' });
  const write = {
    TRACE: temporal.trace.bind(temporal),
    DEBUG: temporal.debug.bind(temporal),
    INFO: temporal.info.bind(temporal),
    WARN: temporal.warn.bind(temporal),
    ERROR: temporal.error.bind(temporal),
  } satisfies Record<LogLevel, unknown>;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => write[entry.level](entry.meta ?? {}, entry.message)),
    // Kiln handles SIGINT/SIGTERM itself so the API, workers and dev servers stop in order.
    shutdownSignals: [],
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress, useSecondsForDurations: true } } } } : {}),
  });
}

export interface TemporalConnections {
  client: Client;
  native: NativeConnection;
  close: () => Promise<void>;
}

export async function connectTemporal(address: string, namespace: string): Promise<TemporalConnections> {
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace });
  return {
    client,
    native,
    close: async () => {
      await native.close();
      await connection.close();
    },
  };
}
