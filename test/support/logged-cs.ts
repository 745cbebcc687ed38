import { join } from 'node:path';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { defaultModelsDir } from '../../src/models/generate';
import { spawnCs } from '../cli/run-cs';
import { waitFor } from './wait-for';

/** A `cs` process whose stdout and stderr are kept. */
export interface LoggedCs {
  readonly child: ReturnType<typeof spawnCs>;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** Starts `cs ...args` with logs at `CS_LOG_LEVEL` (default warn) and `env` added. */
export function startLoggedCs(args: readonly string[], env: Record<string, string> = {}): LoggedCs {
  // A test cluster trusts its tests' model files (the example models folder).
  const child = spawnCs(args, { env: { CS_LOG_LEVEL: 'warn', CS_MODEL_DIRS: defaultModelsDir(), ...env } });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => text };
}

/** Submits a tiny-model job (`partitions` splits, as many subtasks) and waits until it is RUNNING; returns its id. */
export async function submitTinyJob(client: JobManagerClient, dir: string, name: string, partitions = 1): Promise<string> {
  const source = `name: ${name}\nsource: { type: redis, partitions: ${partitions} }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nparallelism: ${partitions}\n`;
  const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dir });
  await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 60_000, what: `job ${name} RUNNING` });
  return jobId;
}
