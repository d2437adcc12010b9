import { chmodSync, cpSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { goInstallOnce, goModuleDir } from './go-install.js';

/**
 * Tooling for the production-shaped topology: a real Temporal server (the same code as a
 * cluster, on PostgreSQL), its schema tool, and the Temporal Web UI server, each built once
 * from the Go module proxy into Kiln's cache like the Temporal CLI.
 */

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
/** The UI server version the Temporal CLI v1.5.1 embeds, so both Web UIs look alike. */
export const TEMPORAL_UI_VERSION = 'v2.42.1';

type Log = (line: string) => void;

export interface TemporalServerBuild {
  /** `temporal-server` (the module's cmd/server). */
  server: string;
  /** `temporal-sql-tool` (the module's cmd/tools/sql). */
  sqlTool: string;
  /** The module's schema/postgresql/v12: temporal/ and visibility/, each with versioned/. */
  postgresSchema: string;
}

/** Module files are read-only in Go's cache; copies must stay removable. */
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) makeWritable(full);
    else chmodSync(full, 0o644);
  }
}

export async function findOrBuildTemporalServer(log: Log = console.error): Promise<TemporalServerBuild | undefined> {
  const module = `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`;
  const dir = await goInstallOnce(
    {
      name: `temporal-server-${TEMPORAL_SERVER_VERSION}`,
      what: `the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL schema tool`,
      packages: [`go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
      finish: (staging) => {
        const schema = path.join(staging, 'schema');
        cpSync(path.join(goModuleDir(module), 'schema', 'postgresql', 'v12'), schema, { recursive: true });
        makeWritable(schema);
      },
    },
    log,
  );
  if (!dir) return undefined;
  return { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'sql'), postgresSchema: path.join(dir, 'schema') };
}

/** Path of the Temporal UI server (`ui-server` module's cmd/server), building it when needed; undefined without Go. */
export async function findOrBuildTemporalUi(log: Log = console.error): Promise<string | undefined> {
  const dir = await goInstallOnce(
    {
      name: `temporal-ui-server-${TEMPORAL_UI_VERSION}`,
      what: `the Temporal Web UI server ${TEMPORAL_UI_VERSION}`,
      packages: [`github.com/temporalio/ui-server/v2/cmd/server@${TEMPORAL_UI_VERSION}`],
    },
    log,
  );
  return dir && path.join(dir, 'server');
}
