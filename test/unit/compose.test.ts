import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../src/paths.js';
import { loadConfig, SETTING_NAMES } from '../../src/config.js';
import {
  KILN_ADDRESS_SETTINGS,
  NAMESPACE_RETENTION_DAYS,
  S3_ACCESS_KEY,
  SHARED_KILN_SETTINGS,
  KILN_PROCESS_ENVIRONMENT,
  TOPOLOGY_PARTS,
  WORKER_STOP_TIMEOUT_MS,
} from '../../tools/topology/topology.js';
import { POSTGRES_MAX_CONNECTIONS } from '../../tools/topology/postgres.js';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../tools/temporal-server.js';
import { VERSITYGW_VERSION } from '../../tools/s3-server.js';
import { DYNAMIC_CONFIG, TEMPORAL_SERVER_ENVIRONMENT, TEMPORAL_SQL_PLUGIN } from '../../tools/topology/temporal.js';
import { FAIRNESS_DYNAMIC_CONFIG } from '../../src/temporal/dev-server.js';

/**
 * docker-compose.yml describes the topology `npm run topology` runs (and the topology
 * tests exercise): no Docker engine here, so it is compared, part by part and setting by
 * setting, with the topology's own code.
 */

interface Service {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
}

const compose = parse(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const text = (value: string | string[] | undefined): string => (Array.isArray(value) ? value.join(' ') : (value ?? ''));

test('docker-compose.yml has a service for each part of the topology', () => {
  for (const part of TOPOLOGY_PARTS) assert.ok(services[part], `a ${part} service`);
  assert.ok((services.worker!.deploy?.replicas ?? 1) >= 2, 'N workers, as the topology runs');
});

test('the servers are the versions the topology builds', () => {
  const bare = (version: string): string => version.replace(/^v/, '');
  assert.equal(services.temporal!.image, `temporalio/server:${bare(TEMPORAL_SERVER_VERSION)}`);
  assert.equal(services['temporal-schema']!.image, `temporalio/admin-tools:${bare(TEMPORAL_SERVER_VERSION)}`);
  assert.equal(services['temporal-ui']!.image, `temporalio/ui:${bare(TEMPORAL_UI_VERSION)}`);
  assert.equal(services.s3!.image, `versity/versitygw:${VERSITYGW_VERSION}`);
  assert.ok(text(services.postgres!.command).includes(`max_connections=${POSTGRES_MAX_CONNECTIONS}`));
});

test('the Temporal server runs with the driver and environment the topology gives it', () => {
  const environment = services.temporal!.environment ?? {};
  assert.equal(environment.DB, TEMPORAL_SQL_PLUGIN);
  for (const [name, value] of Object.entries(TEMPORAL_SERVER_ENVIRONMENT)) assert.equal(environment[name], value, name);
});

test('the Temporal schema and namespace are prepared as the topology prepares them', () => {
  const schema = text(services['temporal-schema']!.command);
  for (const step of ['create-database', 'setup-schema -v 0.0', 'v12/temporal/versioned', 'v12/visibility/versioned']) assert.ok(schema.includes(step), step);
  const namespace = text(services['temporal-namespace']!.command);
  assert.ok(namespace.includes(`-n ${SHARED_KILN_SETTINGS.TEMPORAL_NAMESPACE} --retention ${NAMESPACE_RETENTION_DAYS}d`), namespace);
});

test("the Temporal server runs with the topology's dynamic config, which carries what kiln dev gives its dev server", () => {
  const mounted = (services.temporal as Service & { volumes?: string[] }).volumes ?? [];
  const target = `/etc/temporal/${services.temporal!.environment?.DYNAMIC_CONFIG_FILE_PATH}`;
  assert.ok(
    mounted.some((volume) => volume.startsWith(`./${path.relative(projectRoot, DYNAMIC_CONFIG)}:${target}`)),
    `${path.relative(projectRoot, DYNAMIC_CONFIG)} mounted at ${target}: ${mounted.join(', ')}`,
  );
  const dynamic = parse(readFileSync(DYNAMIC_CONFIG, 'utf8')) as Record<string, Array<{ value: unknown }>>;
  for (const setting of FAIRNESS_DYNAMIC_CONFIG) {
    const [key, value] = setting.split('=') as [string, string];
    assert.deepEqual(dynamic[key], [{ value: parse(value) }], key);
  }
});

test('the API and the workers get the same settings as in the topology', () => {
  for (const role of ['api', 'worker']) {
    const env = services[role]!.environment ?? {};
    for (const [name, value] of Object.entries({ ...SHARED_KILN_SETTINGS, ...KILN_PROCESS_ENVIRONMENT }))
      assert.equal(String(env[name]), value, `${role}: ${name}`);
    for (const name of KILN_ADDRESS_SETTINGS) assert.ok(name in env, `${role} sets ${name}`);
    assert.equal(env.AWS_ACCESS_KEY_ID, S3_ACCESS_KEY);
    // Every setting named is one Kiln reads (a typo would be silently ignored), and its value parses.
    for (const name of Object.keys(env))
      assert.ok(SETTING_NAMES.includes(name) || name.startsWith('AWS_') || name in KILN_PROCESS_ENVIRONMENT, `${role}: Kiln reads no ${name}`);
    const interpolated = (value: string | number): string =>
      String(value).replace(/\$\{[A-Z_]+(?::-([^}]*)|:\?[^}]*)\}/g, (_, fallback: string | undefined) => fallback ?? 'compose-secret');
    assert.doesNotThrow(() => loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolated(v)]))));
  }
  assert.equal(services['s3-bucket']!.environment!.AWS_ACCESS_KEY_ID, S3_ACCESS_KEY);
  assert.ok(text(services['s3-bucket']!.command).includes(`--bucket ${SHARED_KILN_SETTINGS.KILN_S3_BUCKET}`));
});

test('readiness, metrics and a stop that lets running conversions finish', () => {
  assert.ok(text(services.api!.healthcheck?.test).includes(`:${services.api!.environment!.PORT}/readyz`));
  const worker = services.worker!;
  assert.ok(text(worker.healthcheck?.test).includes(`:${worker.environment!.KILN_METRICS_PORT}/readyz`));
  const grace = Number(/^(\d+)s$/.exec(worker.stop_grace_period ?? '')?.[1]);
  assert.ok(grace > loadConfig({}).shutdownGraceSeconds, `stop_grace_period ${worker.stop_grace_period} outlasts KILN_SHUTDOWN_GRACE_SECONDS`);
  assert.equal(grace * 1000, WORKER_STOP_TIMEOUT_MS, 'the same as the topology waits');
});
