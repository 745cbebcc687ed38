/**
 * The CNN tensor section of `npm run bench`: float32 [1, 3, 224, 224] requests (600 KB each) through Redis
 * and one served subtask, against bare ONNX Runtime on the same model file, batch size, layout (instances
 * × intra-op threads) and session options, thread spinning off and on. Besides images/s it charges CPU
 * per image to where it went — the TaskManager's event loop, its model threads (inference workers and
 * ONNX Runtime's pool), its other threads, Redis and the load generator (this process) — and compares
 * the total with bare ONNX Runtime's CPU per image: the CPU-efficiency ratio, which a busy machine moves
 * far less than a wall-clock ratio.
 */
import { randomUUID } from 'node:crypto';
import { InputQueue } from '../../src/client/input-queue';
import { bareThroughput, serve, servedLoad, stop, SECONDS } from './bench-support';
import { processCpuMs, sampleThreads, threadCpuMs } from './thread-cpu';

export interface CnnLayout {
  readonly instances: number;
  readonly threads: number;
}

/** CPU ms per image, by where it was spent. Undefined where it cannot be read (no /proc, Redis not ours). */
export interface CpuPerImage {
  readonly eventLoop: number | undefined;
  readonly modelThreads: number | undefined;
  readonly otherThreads: number | undefined;
  readonly redis: number | undefined;
  readonly loadGenerator: number;
  /** TaskManager + Redis + load generator. */
  readonly ours: number | undefined;
  /** Bare ONNX Runtime (this process, all threads) in the same layout and options. */
  readonly bare: number;
}

export interface CnnRow {
  readonly model: string;
  readonly layout: CnnLayout;
  readonly spinning: boolean;
  readonly batch: number;
  /** Images/s served end to end, and bare. */
  readonly ours: number;
  readonly bare: number;
  readonly cpu: CpuPerImage;
}

export interface CnnTensorOptions {
  readonly redisUrl: string;
  /** The Redis server's pid, when this bench started it (its CPU is then counted). */
  readonly redisPid: number | undefined;
  readonly models: readonly { readonly name: string; readonly path: string }[];
  readonly layouts: readonly CnnLayout[];
  readonly batch: number;
  readonly spinning: readonly boolean[];
  /** Called after each row, for progress. */
  readonly onRow?: (row: CnnRow) => void;
}

/** One served run and one bare run per model × layout × spinning. */
export async function cnnTensorRows(options: CnnTensorOptions): Promise<CnnRow[]> {
  const { redisUrl, redisPid, batch } = options;
  const image = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i));
  const input = () => ({ input: { data: image, shape: [1, 3, 224, 224] } });
  const rows: CnnRow[] = [];
  for (const { name: model, path } of options.models) {
    for (const layout of options.layouts) {
      for (const spinning of options.spinning) {
        const { instances, threads } = layout;
        const name = `bench-cnn-${randomUUID().slice(0, 8)}`;
        const served = await serve({ name, source: { type: 'redis' }, model: { path, threads, instances, spinning }, batch: { maxSize: batch, maxDelayMs: 2 } }, redisUrl);
        const q = new InputQueue({ redis: redisUrl, stream: name });
        const window = 2 * batch * instances;
        let ours: number;
        let completed: number;
        let tm: ReturnType<typeof threadCpuMs>;
        let redisMs: number | undefined;
        let loadMs: number;
        try {
          await servedLoad(q, input, window, Math.max(2, SECONDS / 4)); // warm-up
          const pid = served.child.pid!;
          const tmBefore = sampleThreads(pid);
          const redisBefore = redisPid ? sampleThreads(redisPid) : undefined;
          const loadBefore = processCpuMs();
          ({ completed, rate: ours } = await servedLoad(q, input, window));
          loadMs = processCpuMs() - loadBefore;
          tm = threadCpuMs(tmBefore, sampleThreads(pid));
          redisMs = redisBefore && redisPid ? sum([...threadCpuMs(redisBefore, sampleThreads(redisPid)).values()].map((t) => t.ms)) : undefined;
        } finally {
          await q.close();
          await stop(served.child);
        }
        const bare = await bareThroughput(path, [batch, 3, 224, 224], threads, instances, spinning);
        const pid = served.child.pid!;
        const per = (ms: number): number => ms / completed;
        const haveThreads = tm.size > 0;
        const eventLoop = haveThreads ? per(tm.get(pid)?.ms ?? 0) : undefined;
        const modelThreads = haveThreads ? per(sum([...tm].filter(([tid]) => served.modelThreads.has(tid)).map(([, t]) => t.ms))) : undefined;
        const otherThreads = haveThreads ? per(sum([...tm].filter(([tid]) => tid !== pid && !served.modelThreads.has(tid)).map(([, t]) => t.ms))) : undefined;
        const redis = redisMs === undefined ? undefined : per(redisMs);
        const loadGenerator = per(loadMs);
        const oursCpu = haveThreads && redis !== undefined ? eventLoop! + modelThreads! + otherThreads! + redis + loadGenerator : undefined;
        const row: CnnRow = { model, layout, spinning, batch, ours, bare: bare.rate, cpu: { eventLoop, modelThreads, otherThreads, redis, loadGenerator, ours: oursCpu, bare: bare.cpuMsPerItem } };
        rows.push(row);
        options.onRow?.(row);
      }
    }
  }
  return rows;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
