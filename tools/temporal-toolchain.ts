import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { projectRoot } from '../src/paths.js';
import { loadConfig } from '../src/config.js';
import { cachedTemporalCliPath, locateTemporalCli, onPath, TEMPORAL_CLI_VERSION } from '../src/temporal/temporal-binaries.js';
import { goInstallOnce } from './go-install.js';
import { cacheDir, run } from './build-support.js';

/**
 * Tooling, not the service: finds or builds the two Temporal servers Kiln runs locally:
 * - the Temporal CLI (dev server with the Web UI), for `kiln dev` and API tests;
 * - the Java time-skipping test server, for workflow tests.
 *
 * Order for each: an explicit path from the environment, one already on PATH, one in
 * Kiln's cache, a build from a package registry (Go module proxy / Maven Central), and
 * last the SDK's own download (which needs general internet access).
 */

export const TEST_SERVER_VERSION = '1.38.0';

type Log = (line: string) => void;

const settings = loadConfig();

/** Path of a usable `temporal` CLI, building it when needed; undefined when none can be had here. */
export async function findOrBuildTemporalCli(log: Log = console.error): Promise<string | undefined> {
  const found = locateTemporalCli(settings);
  if (found) return found;
  const cached = cachedTemporalCliPath(cacheDir());
  const dir = await goInstallOnce(
    {
      name: path.basename(path.dirname(cached)),
      what: `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
      packages: [`github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`],
    },
    log,
  );
  return dir && cached;
}

const testServerPom = path.join(projectRoot, 'tools', 'temporal-test-server', 'pom.xml');

function probeJavaStartup(launcher: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => {
        const started = Date.now();
        const child = spawn(launcher, [String(port)], { stdio: 'ignore' });
        const giveUp = setTimeout(() => {
          clearInterval(poll);
          child.kill('SIGKILL');
          reject(new Error(`the test server did not open port ${port} within 60 s`));
        }, 60_000);
        const poll = setInterval(() => {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('connect', () => {
            socket.destroy();
            clearInterval(poll);
            clearTimeout(giveUp);
            child.kill('SIGTERM');
            resolve(Date.now() - started);
          });
          socket.on('error', () => socket.destroy());
        }, 25);
        child.on('exit', (code) => {
          clearInterval(poll);
          clearTimeout(giveUp);
          if (code !== null && code !== 0) reject(new Error(`test server exited with ${code} during the start-up probe`));
        });
      });
    });
  });
}

/**
 * Path of a launcher script for the Java time-skipping test server, resolving it from
 * Maven Central on first use; undefined when Java or Maven is missing.
 * The SDK runs it as `<launcher> <port>` and must get an answer within 5 s, hence the
 * C1-only JIT and a class-data-sharing archive trained once at install time.
 */
export async function findOrBuildTestServer(log: Log = console.error): Promise<string | undefined> {
  const explicit = settings.temporalTestServerPath;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`TEMPORAL_TEST_SERVER_PATH points at ${explicit}, which does not exist`);
    return explicit;
  }
  const home = path.join(cacheDir(), `temporal-test-server-${TEST_SERVER_VERSION}`);
  const launcher = path.join(home, 'temporal-test-server');
  if (existsSync(launcher)) return launcher;

  const java = onPath('java', settings.searchPath);
  const mvn = onPath('mvn', settings.searchPath);
  if (!java || !mvn) return undefined;

  log(`Resolving Temporal's Java test server ${TEST_SERVER_VERSION} from Maven Central into ${home} (once)...`);
  const staging = `${home}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const lib = path.join(staging, 'lib');
  await run(
    mvn,
    [
      '-B',
      '-q',
      '-Dstyle.color=never',
      '-f',
      testServerPom,
      `-Dtemporal.version=${TEST_SERVER_VERSION}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${lib}`,
    ],
    { log, label: 'mvn' },
  );
  if (!readdirSync(lib).some((name) => name.startsWith('temporal-test-server-'))) {
    throw new Error(`Maven finished but ${lib} holds no temporal-test-server jar`);
  }

  const finalLib = path.join(home, 'lib');
  const archive = path.join(home, 'classes.jsa');
  const javaFlags = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k -Xlog:cds=off -Xlog:cds+dynamic=off';
  const script = (extra: string, libDir: string): string => `#!/bin/sh
# Kiln's launcher for Temporal's Java time-skipping test server (generated by tools/temporal-toolchain.ts).
# The SDK calls it as "<this> <port>"; it manages time skipping itself.
exec "${java}" ${javaFlags} ${extra} -cp "${libDir}/*" io.temporal.testserver.TestServer "$@"
`;
  // Train the class-data-sharing archive with the final paths, since CDS checks the classpath.
  rmSync(home, { recursive: true, force: true });
  renameSync(staging, home);
  const training = path.join(home, 'train.sh');
  writeFileSync(training, script(`-XX:ArchiveClassesAtExit=${archive}`, finalLib));
  chmodSync(training, 0o755);
  log("Training a class-data-sharing archive so the JVM answers within the SDK's 5 s window...");
  const coldMs = await probeJavaStartup(training);
  await waitFor(() => existsSync(archive), 20_000);
  rmSync(training);
  const tmpLauncher = `${launcher}.tmp`;
  writeFileSync(tmpLauncher, script(`-XX:SharedArchiveFile=${archive}`, finalLib));
  chmodSync(tmpLauncher, 0o755);
  const warmMs = await probeJavaStartup(tmpLauncher);
  renameSync(tmpLauncher, launcher);
  log(`Test server ready: ${launcher} (port open after ${coldMs} ms cold, ${warmMs} ms with the archive)`);
  return launcher;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the class-data-sharing archive');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function describeMissing(what: string, needs: string): string {
  return `${what}: not found, and it cannot be built here (${needs}). Falling back to the Temporal SDK's own download, which needs internet access.`;
}

/** Executable setting for `TestWorkflowEnvironment.createLocal` / a dev server. */
export async function devServerExecutable(log: Log = console.error): Promise<EphemeralServerExecutable> {
  const cli = await findOrBuildTemporalCli(log);
  if (cli) return { type: 'existing-path', path: cli };
  log(describeMissing('Temporal CLI', 'no TEMPORAL_CLI_PATH, no `temporal` on PATH, no `go` toolchain'));
  return { type: 'cached-download', downloadDir: cacheDir() };
}

/** Executable setting for `TestWorkflowEnvironment.createTimeSkipping`. */
export async function testServerExecutable(log: Log = console.error): Promise<EphemeralServerExecutable> {
  const launcher = await findOrBuildTestServer(log);
  if (launcher) return { type: 'existing-path', path: launcher };
  log(describeMissing('Temporal test server', 'no TEMPORAL_TEST_SERVER_PATH, no `java` and `mvn`'));
  return { type: 'cached-download', downloadDir: cacheDir() };
}

/** `node tools/temporal-toolchain.ts [cli|test-server]...`: builds what is asked (both by default) into the cache. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  const log = (line: string): void => console.error(line);
  if (wanted.length === 0 || wanted.includes('cli')) {
    const cli = await findOrBuildTemporalCli(log);
    if (!cli) log(describeMissing('Temporal CLI', 'no TEMPORAL_CLI_PATH, no `temporal` on PATH, no `go` toolchain'));
  }
  if (wanted.length === 0 || wanted.includes('test-server')) {
    const server = await findOrBuildTestServer(log);
    if (!server) log(describeMissing('Temporal test server', 'no TEMPORAL_TEST_SERVER_PATH, no `java` and `mvn`'));
  }
}
