import { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServerExecutable, testServerExecutable } from '../../src/temporal/toolchain.js';
import { installTemporalRuntime } from '../../src/runtime.js';

/** Temporal's Java time-skipping test server (built by the toolchain from Maven Central). */
export async function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: await testServerExecutable() } });
}

/** A real Temporal dev server (the Temporal CLI) on a free port, in memory. */
export async function devServerEnvironment(): Promise<TestWorkflowEnvironment> {
  installTemporalRuntime();
  return TestWorkflowEnvironment.createLocal({ server: { executable: await devServerExecutable(), ip: '127.0.0.1' } });
}
