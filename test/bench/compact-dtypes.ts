/**
 * Compact wire dtypes on the CNN (issue 13 item 4): the same served job (batch 8, ImageNet normalisation
 * in `decode.normalize`) driven with float32 [1, 3, 224, 224] requests (602 KB of tensor), float16 (301 KB)
 * and uint8 pixels (151 KB), interleaved round by round so machine noise hits every dtype alike.
 * Per dtype: images/s, and CPU per image of the TaskManager's event loop (its main thread, from
 * /proc/<pid>/task/<pid>/stat: process.cpuUsage of the child would add every thread), of the whole
 * TaskManager, of Redis (when its pid is known) and of the load generator (this process).
 *
 * `compactDtypesBench(options)` is what bench.ts calls; `node dist/test/bench/compact-dtypes.js` runs it
 * alone (CS_BENCH_SECONDS per measurement, default 8; CS_BENCH_ROUNDS, default 2; CS_REDIS_URL, else a
 * redis-server is started).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { InputQueue } from '../../src/client/input-queue';
import { startRedisServer } from '../../src/embedded/redis-server';
import { ensureModels } from '../../src/models/generate';
import { toFloat16 } from '../../src/tensor/float16';
import type { TopologyInput } from '../../src/topology/schema';

export type WireDtype = 'float32' | 'float16' | 'uint8';

export interface CompactDtypesOptions {
  readonly redisUrl: string;
  /** The CNN model file (input float32 [batch, 3, 224, 224]). */
  readonly modelPath: string;
  /** The redis-server's pid, for its CPU per image (omitted from the figures when unknown). */
  readonly redisPid?: number | undefined;
  /** Seconds per measurement. @default 8 */
  readonly seconds?: number;
  /** Measurements per dtype, interleaved. @default 2 */
  readonly rounds?: number;
  /** @default 8 */
  readonly batch?: number;
  /** @default 1 */
  readonly instances?: number;
  /** @default 2 */
  readonly threads?: number;
}

/** One measurement of one dtype. */
export interface DtypeRun {
  readonly dtype: WireDtype;
  /** Bytes of tensor data per request. */
  readonly tensorBytes: number;
  readonly imagesPerSecond: number;
  /** CPU ms per image of the TaskManager's main thread (the event loop). */
  readonly eventLoopCpuMs: number;
  /** CPU ms per image of the whole TaskManager process (event loop, ORT threads, GC, libuv). */
  readonly taskManagerCpuMs: number;
  readonly redisCpuMs: number | undefined;
  /** CPU ms per image of the load generator (this process). */
  readonly clientCpuMs: number;
}

export interface CompactDtypesResult {
  readonly batch: number;
  readonly instances: number;
  readonly threads: number;
  readonly seconds: number;
  /** Every measurement, in the order taken. */
  readonly runs: readonly DtypeRun[];
}

const DTYPES: readonly WireDtype[] = ['float32', 'uint8', 'float16'];
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SHAPE = [1, 3, 224, 224];

/** Clock ticks per second of /proc CPU times (USER_HZ: 100 on Linux everywhere in practice). */
const TICKS_PER_SECOND = 100;

/** utime + stime in ms of a process (`/proc/<pid>/stat`) or one of its threads (`/proc/<pid>/task/<tid>/stat`). */
function cpuMs(statPath: string): number {
  const text = readFileSync(statPath, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** A SubtaskRunner in its own process (serve-subtask.js), ready to serve. */
async function serve(spec: TopologyInput, redisUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, 'serve-subtask.js'), JSON.stringify(spec), redisUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serving process exited with ${code}`)));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  child.removeAllListeners('exit');
  return child;
}

/** A photo-like NCHW uint8 image (gradients and texture). */
function pixels(): Uint8Array {
  const plane = 224 * 224;
  return Uint8Array.from({ length: 3 * plane }, (_, i) => {
    const c = Math.floor(i / plane);
    const y = Math.floor((i % plane) / 224);
    const x = i % 224;
    return (128 + 100 * Math.sin((x * (c + 1) + 2 * y) / 17) + 20 * Math.sin(x * y * 0.001)) & 0xff;
  });
}

/** Requests completed by `window` concurrent predict loops in `seconds`. */
async function closedLoop(q: InputQueue, input: () => Parameters<InputQueue['predict']>[0], window: number, seconds: number): Promise<number> {
  let completed = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await q.predict(input(), { timeoutMs: 60_000 });
      completed++;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return completed;
}

/**
 * Serves the CNN once and measures each wire dtype `rounds` times, interleaved.
 * @example
 * const r = await compactDtypesBench({ redisUrl, modelPath: models.cnn, redisPid: redis.process.pid });
 * console.log(formatCompactDtypes(r));
 */
export async function compactDtypesBench(options: CompactDtypesOptions): Promise<CompactDtypesResult> {
  const seconds = options.seconds ?? 8;
  const rounds = options.rounds ?? 2;
  const batch = options.batch ?? 8;
  const instances = options.instances ?? 1;
  const threads = options.threads ?? 2;
  const name = `bench-compact-${randomUUID().slice(0, 8)}`;
  const spec: TopologyInput = {
    name,
    source: { type: 'redis' },
    decode: { type: 'tensor', normalize: { scale: 1 / 255, mean: MEAN, std: STD } },
    model: { path: options.modelPath, threads, instances },
    batch: { maxSize: batch, maxDelayMs: 2 },
  };
  const child = await serve(spec, options.redisUrl);
  const pid = child.pid!;
  const q = new InputQueue({ redis: options.redisUrl, stream: name });
  const u8 = pixels();
  const f32 = Float32Array.from(u8, (v, i) => {
    const c = Math.floor(i / (224 * 224));
    return (v / 255 - MEAN[c]!) / STD[c]!;
  });
  const data: Record<WireDtype, Float32Array | Uint8Array | Uint16Array> = { float32: f32, uint8: u8, float16: toFloat16(f32) };
  const window = 4 * batch * instances;
  const runs: DtypeRun[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const dtype of DTYPES) {
        const input = () => ({ input: { data: data[dtype], shape: SHAPE } });
        await closedLoop(q, input, window, Math.max(1, seconds / 8)); // warm-up
        const before = { loop: cpuMs(`/proc/${pid}/task/${pid}/stat`), tm: cpuMs(`/proc/${pid}/stat`), redis: options.redisPid ? cpuMs(`/proc/${options.redisPid}/stat`) : 0, client: process.cpuUsage(), at: performance.now() };
        const images = await closedLoop(q, input, window, seconds);
        const wallS = (performance.now() - before.at) / 1000;
        const client = process.cpuUsage(before.client);
        runs.push({
          dtype,
          tensorBytes: data[dtype].byteLength,
          imagesPerSecond: images / wallS,
          eventLoopCpuMs: (cpuMs(`/proc/${pid}/task/${pid}/stat`) - before.loop) / images,
          taskManagerCpuMs: (cpuMs(`/proc/${pid}/stat`) - before.tm) / images,
          redisCpuMs: options.redisPid ? (cpuMs(`/proc/${options.redisPid}/stat`) - before.redis) / images : undefined,
          clientCpuMs: (client.user + client.system) / 1000 / images,
        });
      }
    }
  } finally {
    await q.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  return { batch, instances, threads, seconds, runs };
}

function range(values: readonly number[], digits: number): string {
  const lo = Math.min(...values).toFixed(digits);
  const hi = Math.max(...values).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** The result as a table: one row per dtype, each cell the range over the rounds. */
export function formatCompactDtypes(r: CompactDtypesResult): string {
  const lines = [`Compact wire dtypes, CNN (batch ${r.batch}, ${r.instances} instance(s) × ${r.threads} thread(s), ${r.seconds} s × ${r.runs.length / DTYPES.length} rounds; ranges over rounds; CPU in ms per image)`];
  lines.push('dtype    | tensor KB | images/s     | event loop | TaskManager | Redis      | client');
  for (const dtype of DTYPES) {
    const mine = r.runs.filter((x) => x.dtype === dtype);
    if (mine.length === 0) continue;
    const redis = mine.every((x) => x.redisCpuMs !== undefined) ? range(mine.map((x) => x.redisCpuMs!), 2) : '–';
    lines.push(
      [dtype.padEnd(8), String(Math.round(mine[0]!.tensorBytes / 1000)).padEnd(9), range(mine.map((x) => x.imagesPerSecond), 1).padEnd(12), range(mine.map((x) => x.eventLoopCpuMs), 2).padEnd(10), range(mine.map((x) => x.taskManagerCpuMs), 2).padEnd(11), redis.padEnd(10), range(mine.map((x) => x.clientCpuMs), 2)].join(' | '),
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const redis = process.env.CS_REDIS_URL ? undefined : await startRedisServer();
  try {
    const models = await ensureModels();
    const result = await compactDtypesBench({
      redisUrl: process.env.CS_REDIS_URL ?? redis!.url,
      modelPath: models.cnn,
      redisPid: redis?.process.pid,
      seconds: Number(process.env.CS_BENCH_SECONDS ?? 8),
      rounds: Number(process.env.CS_BENCH_ROUNDS ?? 2),
      ...(process.env.CS_BENCH_CNN_INSTANCES ? { instances: Number(process.env.CS_BENCH_CNN_INSTANCES) } : {}),
      ...(process.env.CS_BENCH_CNN_THREADS ? { threads: Number(process.env.CS_BENCH_CNN_THREADS) } : {}),
    });
    process.stdout.write(`${formatCompactDtypes(result)}\n${JSON.stringify(result)}\n`);
  } finally {
    await redis?.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
