import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServerExecutable, testServerExecutable, withExplainedDownload } from '../../src/temporal/toolchain.js';
import { installTemporalRuntime } from '../../src/runtime.js';

/** Temporal's Java time-skipping test server (built by the toolchain from Maven Central). */
export async function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  const executable = await testServerExecutable();
  return withExplainedDownload('Temporal test server', executable, () => TestWorkflowEnvironment.createTimeSkipping({ server: { executable } }));
}

/** A real Temporal dev server (the Temporal CLI) on a free port, in memory. */
export async function devServerEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  const executable = await devServerExecutable();
  return withExplainedDownload('Temporal CLI', executable, () => TestWorkflowEnvironment.createLocal({ server: { executable, ip: '127.0.0.1' } }));
}
