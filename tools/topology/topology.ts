import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { codeRoot, moduleExtension } from '../../src/paths.js';
import { readOrCreateSecret } from '../../src/cli/secrets.js';
import { freePort } from '../../src/free-port.js';
import { ManagedProcess, type ProcessSpec } from './managed-process.js';
import { ensureDatabases, postgresProcess, postgresUrl } from './postgres.js';
import { DEFAULT_TEMPORAL_PORTS, ensureNamespace, prepareTemporalSchema, temporalServerProcess, temporalUiProcess, type TemporalPorts } from './temporal.js';
import { findOrBuildTemporalServer, findOrBuildTemporalUi } from '../temporal-server.js';
import { ensureBucket, findOrBuildVersitygw, versitygwProcess } from '../s3-server.js';

type Log = (line: string) => void;

export interface TopologyPorts {
  postgres: number;
  temporal: TemporalPorts;
  ui: number;
  s3: number;
  api: number;
  /** Worker i (from 1) serves its /metrics, /livez and /readyz on `workerMetrics + i - 1`; 0: each on any free port. */
  workerMetrics: number;
}

export const DEFAULT_PORTS: TopologyPorts = {
  postgres: 5433,
  temporal: DEFAULT_TEMPORAL_PORTS,
  ui: 8233,
  s3: 7070,
  api: 3000,
  workerMetrics: 9464,
};

/**
 * The settings every Kiln process of the topology shares, apart from addresses: what
 * docker-compose.yml must also set (test/e2e/compose.test.ts compares them).
 */
export const SHARED_KILN_SETTINGS = {
  TEMPORAL_NAMESPACE: 'default',
  KILN_S3_BUCKET: 'kiln',
  KILN_S3_REGION: 'us-east-1',
  KILN_S3_FORCE_PATH_STYLE: 'true',
} as const;

/**
 * The environment every Kiln process runs with, beside its settings: glibc's allocator in
 * two arenas (docs/operations.md, "Memory"). `npm start` sets the same in package.json.
 */
export const KILN_PROCESS_ENVIRONMENT = { MALLOC_ARENA_MAX: '2' } as const;

/** Names of the settings each Kiln process gets from the topology, with the address or secret it supplies. */
export const KILN_ADDRESS_SETTINGS = [
  'DATABASE_URL',
  'TEMPORAL_ADDRESS',
  'KILN_S3_ENDPOINT',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'KILN_PUBLIC_URL',
  'KILN_ADMIN_TOKEN',
  'KILN_SIGNING_KEY',
  'KILN_WEBHOOK_ALLOWED_CIDRS',
  'KILN_DATA_DIR',
] as const;

export const KILN_DATABASE = 'kiln';
export const S3_ACCESS_KEY = 'kiln-topology';
/** Days Temporal keeps a closed workflow's history in the namespace. */
export const NAMESPACE_RETENTION_DAYS = 7;
/** The parts, by the names their processes and logs (and docker-compose.yml's services) have; `worker` is `worker-<n>` here. */
export const TOPOLOGY_PARTS = ['postgres', 'temporal', 'temporal-ui', 's3', 'api', 'worker'] as const;
/** Longer than a worker's KILN_SHUTDOWN_GRACE_SECONDS default (60), so a stop lets running conversions finish. */
export const WORKER_STOP_TIMEOUT_MS = 75_000;

export interface TopologyOptions {
  /** State (Postgres cluster, bucket, secrets, each process's data dir) and `logs/`; kept across runs. */
  dir: string;
  workers: number;
  /** `free`: any free loopback ports (tests); otherwise DEFAULT_PORTS with these replaced. */
  ports?: 'free' | Partial<TopologyPorts>;
  /** Without the Web UI server (tests that do not look at it). */
  ui?: boolean;
  /** Settings added to every Kiln process's environment (after the topology's own). */
  kilnEnv?: Record<string, string>;
  log?: Log;
}

export interface Topology {
  dir: string;
  ports: TopologyPorts;
  apiUrl: string;
  uiUrl: string | undefined;
  temporalAddress: string;
  s3Endpoint: string;
  databaseUrl: string;
  adminToken: string;
  /** What every Kiln process's environment holds (the API's and workers' own settings aside). */
  kilnEnv: Record<string, string>;
  postgres: ManagedProcess;
  temporal: ManagedProcess;
  ui: ManagedProcess | undefined;
  s3: ManagedProcess;
  api: ManagedProcess;
  workers: ManagedProcess[];
  /** Where each worker (same order) serves /metrics, /livez and /readyz. */
  workerMetricsUrls: string[];
  /** Adds one more `kiln worker` process and starts it. */
  addWorker: () => Promise<ManagedProcess>;
  /** Everything, newest first: workers and API drain, then the UI, Temporal, S3, Postgres. */
  stop: () => Promise<void>;
}

async function choosePorts(wanted: TopologyOptions['ports']): Promise<TopologyPorts> {
  if (wanted !== 'free') return { ...DEFAULT_PORTS, ...wanted, temporal: { ...DEFAULT_PORTS.temporal, ...wanted?.temporal } };
  const temporal = {} as TemporalPorts;
  for (const key of Object.keys(DEFAULT_TEMPORAL_PORTS) as Array<keyof TemporalPorts>) temporal[key] = await freePort();
  return { postgres: await freePort(), temporal, ui: await freePort(), s3: await freePort(), api: await freePort(), workerMetrics: 0 };
}

/** How this module runs Kiln: compiled (dist/) or from source under tsx, as the topology itself runs. */
function kilnCommand(role: string): { command: string; args: string[] } {
  const entry = path.join(codeRoot, 'src', 'cli', `main${moduleExtension}`);
  return { command: process.execPath, args: [...(moduleExtension === '.ts' ? ['--import', 'tsx'] : []), entry, role] };
}

async function httpOk(url: string): Promise<boolean> {
  return (await fetch(url, { signal: AbortSignal.timeout(3000) })).ok;
}

/**
 * Brings Kiln's production shape up on this machine, each part a real process with its own
 * log under `<dir>/logs`: PostgreSQL (Debian's), the Temporal server (schema prepared,
 * namespace and search attributes registered) and its Web UI, an S3 server (versitygw), one
 * `kiln api` and `workers` × `kiln worker`, every Kiln process on the S3 store.
 */
export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const log = options.log ?? ((line: string) => console.error(line));
  const dir = path.resolve(options.dir);
  const logDir = path.join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const ports = await choosePorts(options.ports);
  const started: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const part of started.reverse()) {
      try {
        await part.stop();
      } catch (error) {
        log(`could not stop ${part.name}: ${(error as Error).message}`);
      }
    }
    started.length = 0;
  };
  const launch = async (name: string, spec: Omit<ProcessSpec, 'name'>): Promise<ManagedProcess> => {
    const part = new ManagedProcess({ ...spec, name }, logDir);
    log(`starting ${name} (log: ${part.logFile})`);
    await part.start();
    started.push(part);
    return part;
  };

  try {
    const temporalBuild = await findOrBuildTemporalServer(log);
    const uiServer = options.ui === false ? undefined : await findOrBuildTemporalUi(log);
    const versitygw = await findOrBuildVersitygw(log);
    if (!temporalBuild || !versitygw || (options.ui !== false && !uiServer))
      throw new Error('the topology needs Go to build the Temporal server, its UI and versitygw (once)');

    const postgres = await launch('postgres', postgresProcess({ dir: path.join(dir, 'postgres'), port: ports.postgres }));
    await ensureDatabases(ports.postgres, [KILN_DATABASE]);
    const schemaLog = path.join(logDir, 'temporal-schema.log');
    log(`preparing Temporal's schema (log: ${schemaLog})`);
    await prepareTemporalSchema(temporalBuild, ports.postgres, (line) => appendFileSync(schemaLog, `${line}\n`));
    const temporalAddress = `127.0.0.1:${ports.temporal.frontend}`;
    const temporal = await launch('temporal', temporalServerProcess(temporalBuild, path.join(dir, 'temporal'), ports.temporal, ports.postgres));
    await ensureNamespace(temporalAddress, SHARED_KILN_SETTINGS.TEMPORAL_NAMESPACE, NAMESPACE_RETENTION_DAYS, log);
    const ui = uiServer
      ? await launch(
          'temporal-ui',
          temporalUiProcess(uiServer, path.join(dir, 'temporal-ui'), ports.ui, temporalAddress, SHARED_KILN_SETTINGS.TEMPORAL_NAMESPACE),
        )
      : undefined;

    const s3Secret = readOrCreateSecret(path.join(dir, 's3-secret-key'), () => randomBytes(24).toString('hex'));
    const s3Endpoint = `http://127.0.0.1:${ports.s3}`;
    const credentials = { accessKey: S3_ACCESS_KEY, secretKey: s3Secret };
    const s3 = await launch('s3', versitygwProcess({ binary: versitygw, dir: path.join(dir, 's3'), port: ports.s3, ...credentials }));
    await ensureBucket(s3Endpoint, credentials, SHARED_KILN_SETTINGS.KILN_S3_BUCKET);

    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const adminToken = readOrCreateSecret(path.join(dir, 'admin-token'), () => `kiln_admin_${randomBytes(20).toString('hex')}`);
    const databaseUrl = postgresUrl(ports.postgres, KILN_DATABASE);
    const kilnEnv: Record<string, string> = {
      ...SHARED_KILN_SETTINGS,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      KILN_S3_ENDPOINT: s3Endpoint,
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: s3Secret,
      KILN_PUBLIC_URL: apiUrl,
      KILN_ADMIN_TOKEN: adminToken,
      KILN_SIGNING_KEY: readOrCreateSecret(path.join(dir, 'signing-key'), () => randomBytes(32).toString('hex')),
      ...KILN_PROCESS_ENVIRONMENT,
      // One machine: receivers being tried out live on it too.
      KILN_WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8,::1/128',
      // The dashboard links each run to the Web UI this topology runs.
      ...(ui ? { KILN_TEMPORAL_UI_URL: `http://127.0.0.1:${ports.ui}` } : {}),
      ...options.kilnEnv,
    };
    const kiln = (role: string, name: string, env: Record<string, string>, ready: () => Promise<boolean>): Omit<ProcessSpec, 'name'> => ({
      ...kilnCommand(role),
      env: { ...kilnEnv, KILN_DATA_DIR: path.join(dir, 'kiln', name), ...env },
      ready,
      readyTimeoutMs: 120_000,
      stopTimeoutMs: WORKER_STOP_TIMEOUT_MS,
    });
    const api = await launch(
      'api',
      kiln('api', 'api', { HOST: '127.0.0.1', PORT: String(ports.api) }, () => httpOk(`${apiUrl}/readyz`)),
    );
    const workers: ManagedProcess[] = [];
    const workerMetricsUrls: string[] = [];
    const addWorker = async (): Promise<ManagedProcess> => {
      const n = workers.length + 1;
      const metricsPort = ports.workerMetrics ? ports.workerMetrics + n - 1 : await freePort();
      const worker = await launch(
        `worker-${n}`,
        kiln('worker', `worker-${n}`, { KILN_WORKER_NAME: `worker-${n}`, KILN_METRICS_PORT: String(metricsPort) }, () =>
          httpOk(`http://127.0.0.1:${metricsPort}/readyz`),
        ),
      );
      workers.push(worker);
      workerMetricsUrls.push(`http://127.0.0.1:${metricsPort}`);
      return worker;
    };
    for (let i = 0; i < options.workers; i++) await addWorker();

    return {
      dir,
      ports,
      apiUrl,
      uiUrl: ui && `http://127.0.0.1:${ports.ui}`,
      temporalAddress,
      s3Endpoint,
      databaseUrl,
      adminToken,
      kilnEnv,
      postgres,
      temporal,
      ui,
      s3,
      api,
      workers,
      workerMetricsUrls,
      addWorker,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** An API key of the `topology` account, created through the admin API on first use and kept in `<dir>/api-key`. */
export async function topologyApiKey(topology: Topology): Promise<string> {
  const file = path.join(topology.dir, 'api-key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    const check = await fetch(`${topology.apiUrl}/v1/conversions?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    if (check.ok) return key;
  }
  const response = await fetch(`${topology.apiUrl}/v1/admin/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${topology.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `topology-${Date.now()}` }),
  });
  if (response.status !== 201) throw new Error(`could not create an account: ${response.status} ${await response.text()}`);
  const key = ((await response.json()) as { api_key: { key: string } }).api_key.key;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
