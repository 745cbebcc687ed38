import { SubtaskRunner } from '../../taskmanager/subtask-runner';
import { topologySchema, type TopologyInput } from '../../src/topology/schema';
import type { ModelRuntime } from '../../src/runtime/model-runtime';
import { createLogger } from '../../src/logging/logger';

/**
 * Starts subtask 0 of a YAML-form topology in this process, as a TaskManager slot would: it reads `splits`
 * (default: the source's stream, else the job name) with consumer `<name>-0`.
 */
export async function startSubtask(redisUrl: string, spec: TopologyInput, options: { splits?: string[]; runtime?: ModelRuntime } = {}): Promise<SubtaskRunner> {
  const parsed = topologySchema.parse(spec);
  const runner = new SubtaskRunner({
    jobId: parsed.name,
    subtaskIndex: 0,
    topology: { spec: parsed, requestSteps: [], resultSteps: [] },
    splits: options.splits ?? [(parsed.source.type === 'redis' ? parsed.source.stream : undefined) ?? parsed.name],
    redisUrl,
    consumerName: `${parsed.name}-0`,
    logger: createLogger('test', process.env.CS_TEST_LOG_LEVEL ?? 'silent'),
    ...(options.runtime ? { runtime: options.runtime } : {}),
  });
  await runner.start();
  return runner;
}
