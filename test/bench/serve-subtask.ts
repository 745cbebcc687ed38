/**
 * A TaskManager slot in its own process for the bench: runs one SubtaskRunner for the topology spec
 * given as JSON in argv[2] against the Redis in argv[3], prints `ready` when serving, and closes
 * gracefully on SIGTERM.
 */
import { SubtaskRunner } from '../../taskmanager/subtask-runner';
import { topologySchema } from '../../src/topology/schema';
import { createLogger } from '../../src/logging/logger';

async function main(): Promise<void> {
  const spec = topologySchema.parse(JSON.parse(process.argv[2] ?? '{}'));
  const redisUrl = process.argv[3] ?? 'redis://127.0.0.1:6379';
  const stream = (spec.source.type === 'redis' ? spec.source.stream : undefined) ?? spec.name;
  const runner = new SubtaskRunner({
    jobId: spec.name,
    subtaskIndex: 0,
    topology: { spec, requestSteps: [], resultSteps: [] },
    splits: [stream],
    redisUrl,
    consumerName: `${spec.name}-bench`,
    logger: createLogger('bench-taskmanager', process.env.CS_LOG_LEVEL ?? 'warn'),
  });
  await runner.start();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void runner.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
