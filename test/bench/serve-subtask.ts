/**
 * A TaskManager slot in its own process for the bench: runs one SubtaskRunner for the topology spec
 * given as JSON in argv[2] against the Redis in argv[3], prints `ready {"modelThreads":[…]}` when serving
 * (the ids of the threads that started with the model: its inference worker threads and ONNX Runtime's
 * intra-op threads, for per-thread CPU figures), and closes gracefully on SIGTERM.
 */
import { readdir, readFile } from 'node:fs/promises';
import { SubtaskRunner } from '../../taskmanager/subtask-runner';
import { topologySchema } from '../../src/topology/schema';
import { createLogger } from '../../src/logging/logger';

async function threadIds(): Promise<Set<number>> {
  return new Set((await readdir('/proc/self/task').catch(() => [] as string[])).map(Number));
}

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
  // File I/O first starts libuv's thread pool, so that the threads new after start() are the model's.
  await readFile(__filename);
  const before = await threadIds();
  await runner.start();
  const modelThreads = [...(await threadIds())].filter((t) => !before.has(t));
  process.stdout.write(`ready ${JSON.stringify({ modelThreads })}\n`);
  process.once('SIGTERM', () => void runner.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
