import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { KilnConfig } from '../src/config.js';
import { devServerExecutable } from '../tools/temporal-toolchain.js';
import { FAIRNESS_DYNAMIC_CONFIG } from '../src/temporal/dev-server.js';

/** A Temporal dev server as `kiln dev` runs it (a SQLite file with Kiln's pragmas), in `dir`, on a free port. */
export async function benchDevServer(dir: string, config: KilnConfig): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: await devServerExecutable(),
      ip: '127.0.0.1',
      dbFilename: path.join(dir, 'temporal.db'),
      extraArgs: [
        ...config.temporalSqlitePragmas.flatMap((pragma) => ['--sqlite-pragma', pragma]),
        ...FAIRNESS_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]),
      ],
    },
  });
}
