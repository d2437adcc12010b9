import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { run } from '../build-support.js';
import type { TemporalServerBuild } from '../temporal-server.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { GRPC_STATUS, grpcStatusOf } from '../../src/temporal/grpc-status.js';
import { projectRoot } from '../../src/paths.js';
import { ensureDatabases, postgresUrl } from './postgres.js';
import type { ProcessSpec } from './managed-process.js';

type Log = (line: string) => void;

/**
 * The server's Postgres driver: pgx keeps each statement prepared on its connection, where
 * lib/pq (`postgres12`) prepares every statement anew, a round trip and a parse more.
 * Measured on the topology: Postgres CPU per conversion 30–35 → 20–22 ms.
 */
export const TEMPORAL_SQL_PLUGIN = 'postgres12_pgx';

/**
 * The server's environment. One Go processor: the server shares its machine with the
 * converters, and with more, Go's scheduler spins idle processors awake at every wake-up
 * of the busy cores. Measured on the topology (2 cores): Temporal CPU per conversion
 * 50–55 → 35–43 ms, at the same rate. A server on a machine of its own should have them all
 * (docs/operations.md, "The Temporal server").
 */
export const TEMPORAL_SERVER_ENVIRONMENT = { GOMAXPROCS: '1' } as const;

/** Temporal's two databases on the topology's Postgres. */
export const TEMPORAL_DATABASES = { default: 'temporal', visibility: 'temporal_visibility' } as const;

export interface TemporalPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  /** The server's own Prometheus metrics. */
  metrics: number;
}

export const DEFAULT_TEMPORAL_PORTS: TemporalPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
  metrics: 8000,
};

async function hasSchema(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const found = await client.query("select 1 from information_schema.tables where table_name = 'schema_version'");
    return (found.rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

/**
 * Creates Temporal's databases and brings both schemas to this server version's: set up
 * on first use, then `update-schema`, which applies only the versions a database lacks,
 * so it is safe at every start and upgrades a cluster made by an older build.
 */
export async function prepareTemporalSchema(build: TemporalServerBuild, postgresPort: number, log: Log): Promise<void> {
  await ensureDatabases(postgresPort, Object.values(TEMPORAL_DATABASES));
  for (const [kind, database] of Object.entries(TEMPORAL_DATABASES)) {
    const tool = (args: string[]): Promise<void> =>
      run(
        build.sqlTool,
        ['--plugin', 'postgres12', '--ep', '127.0.0.1', '--port', String(postgresPort), '--user', 'postgres', '--password', '', '--db', database, ...args],
        { log, label: `temporal-sql-tool ${database}` },
      );
    if (!(await hasSchema(postgresUrl(postgresPort, database)))) await tool(['setup-schema', '-v', '0.0']);
    const versioned = path.join(build.postgresSchema, kind === 'default' ? 'temporal' : 'visibility', 'versioned');
    await tool(['update-schema', '-d', versioned]);
  }
}

/** The server's configuration (the module's development-postgres12.yaml, with this topology's ports and databases). */
function serverConfig(ports: TemporalPorts, postgresPort: number): string {
  const datastore = (database: string, maxConns: number): string => `
      sql:
        pluginName: ${TEMPORAL_SQL_PLUGIN}
        databaseName: ${database}
        connectAddr: 127.0.0.1:${postgresPort}
        connectProtocol: tcp
        user: postgres
        password: ""
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number, extra = ''): string => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${extra}`;
  return `# Written by Kiln's topology (tools/topology/temporal.ts) at every start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:${datastore(TEMPORAL_DATABASES.default, 20)}
    postgres-visibility:${datastore(TEMPORAL_DATABASES.visibility, 5)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: 127.0.0.1:${ports.metrics}
services:
  frontend:${service(ports.frontend, ports.frontendMembership, `\n      httpPort: ${ports.frontendHttp}`)}
  history:${service(ports.history, ports.historyMembership)}
  matching:${service(ports.matching, ports.matchingMembership)}
  worker:${service(ports.worker, ports.workerMembership)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:${ports.frontend}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: config/dynamicconfig.yaml
  pollInterval: 10s
`;
}

/** Search attributes added by a worker are visible to the next start at once, not after a cache refresh. */
/** The server's dynamic config, shared with docker-compose.yml. */
export const DYNAMIC_CONFIG = path.join(projectRoot, 'tools', 'topology', 'temporal-dynamicconfig.yaml');

export function temporalServerProcess(build: TemporalServerBuild, dir: string, ports: TemporalPorts, postgresPort: number): Omit<ProcessSpec, 'name'> {
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  writeFileSync(path.join(dir, 'config', 'kiln.yaml'), serverConfig(ports, postgresPort));
  copyFileSync(DYNAMIC_CONFIG, path.join(dir, 'config', 'dynamicconfig.yaml'));
  return {
    command: build.server,
    args: ['--root', dir, '--config', 'config', '--env', 'kiln', 'start'],
    cwd: dir,
    env: TEMPORAL_SERVER_ENVIRONMENT,
    ready: () => answers(`127.0.0.1:${ports.frontend}`),
    readyTimeoutMs: 120_000,
  };
}

async function answers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    await connection.workflowService.getSystemInfo({});
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * Registers `namespace` (retention `retentionDays`) unless it exists, waits until the
 * frontend serves it, and registers Kiln's search attributes in it.
 */
export async function ensureNamespace(address: string, namespace: string, retentionDays: number, log: Log): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000) });
      log(`registered the Temporal namespace ${namespace} (history kept ${retentionDays} days)`);
    } catch (error) {
      if (grpcStatusOf(error) !== GRPC_STATUS.ALREADY_EXISTS) throw error;
    }
    // The frontend learns of a new namespace on its next registry refresh.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await registerSearchAttributes(connection, namespace);
  } finally {
    await connection.close();
  }
}

export function temporalUiProcess(uiServer: string, dir: string, port: number, temporalAddress: string, namespace: string): Omit<ProcessSpec, 'name'> {
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  writeFileSync(
    path.join(dir, 'config', 'kiln.yaml'),
    `# Written by Kiln's topology (tools/topology/temporal.ts) at every start.
temporalGrpcAddress: ${temporalAddress}
host: 127.0.0.1
port: ${port}
enableUi: true
defaultNamespace: ${namespace}
refreshInterval: 1m
notifyOnNewVersion: false
cors:
  allowOrigins:
    - http://127.0.0.1:${port}
    - http://localhost:${port}
`,
  );
  return {
    command: uiServer,
    args: ['--root', dir, '--config', 'config', '--env', 'kiln', 'start'],
    cwd: dir,
    ready: async () => (await fetch(`http://127.0.0.1:${port}/api/v1/settings`)).ok,
  };
}
