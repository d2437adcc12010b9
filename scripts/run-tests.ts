/**
 * `npm test`: makes sure the Temporal servers (dev, test, and the real one with its UI for the
 * topology), versitygw, and the Python of the reference receivers and of the contract tools are built
 * (once, cached under ~/.cache/kiln),
 * then runs every test file under test/ with Node's test runner, each file in its own
 * process (Temporal's native runtime is process-wide).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { findOrBuildTemporalCli, findOrBuildTestServer } from '../tools/temporal-toolchain.js';
import { findOrBuildContractToolsPython, findOrBuildReceiverPython } from '../tools/python-venv.js';
import { findOrBuildVersitygw } from '../tools/s3-server.js';
import { findOrBuildTemporalServer, findOrBuildTemporalUi } from '../tools/temporal-server.js';
import { projectRoot } from '../src/paths.js';
import { buildWeb } from './build-web.js';

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return testFiles(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

const log = (line: string): void => console.error(line);
const cli = await findOrBuildTemporalCli(log);
const testServer = await findOrBuildTestServer(log);
log(`Temporal CLI: ${cli ?? 'none here; tests fall back to the SDK download'}`);
log(`Temporal test server: ${testServer ?? 'none here; tests fall back to the SDK download'}`);
// Built here, before test files run in parallel, so none of them races another to build it.
log(`Python for the reference receivers: ${await findOrBuildReceiverPython(log)}`);
log(`Python for the contract tools (openapi-python-client, schemathesis): ${await findOrBuildContractToolsPython(log)}`);
log(`S3 server for the S3 tests: ${(await findOrBuildVersitygw(log)) ?? 'none (no Go here)'}`);
log(`Temporal server for the topology tests: ${(await findOrBuildTemporalServer(log))?.server ?? 'none (no Go here)'}`);
log(`Temporal Web UI server: ${(await findOrBuildTemporalUi(log)) ?? 'none (no Go here)'}`);
log(`Dashboard: ${(await buildWeb()).dir} (built for the browser tests)`);

const filter = process.argv.slice(2);
const files = testFiles(path.join(projectRoot, 'test'))
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)))
  .sort();
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${process.env.KILN_TEST_CONCURRENCY ?? '2'}`, ...files], {
  stdio: 'inherit',
  cwd: projectRoot,
  env: { ...process.env, KILN_TEMPORAL_LOG_LEVEL: process.env.KILN_TEMPORAL_LOG_LEVEL ?? 'ERROR', KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'warn' },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
