/**
 * Bare ONNX Runtime inference time of the generated CNNs, per image, at a given batch size and thread count: the
 * reference the served figures are compared with. Run directly for a table of all three CNNs:
 * `node dist/test/bench/model-latency.js [runs]`.
 */
import * as ort from 'onnxruntime-node';
import { ensureModels } from '../../src/models/generate';
import { SeededRandom } from '../../src/models/seeded-random';

/** Options of {@link bareInferenceTime}. */
export interface BareInferenceOptions {
  readonly batch: number;
  /** ORT intra-op threads (inter-op 1, sequential execution, as the server's sessions). */
  readonly threads: number;
  /** ORT thread spinning after each run (ORT's default: on; the server turns it off). */
  readonly spinning: boolean;
  /** Timed runs after 3 warm-up runs. */
  readonly runs: number;
}

/** Per-image figures of {@link bareInferenceTime}, over the timed runs. */
export interface BareInferenceTime {
  /** Wall ms per image: fastest, median and slowest run, each divided by the batch size. */
  readonly wallMs: { readonly min: number; readonly median: number; readonly max: number };
  /** Process CPU ms (all threads) per image over all timed runs. */
  readonly cpuMs: number;
}

/** Times back-to-back `session.run` calls of a [batch, 3, 224, 224] CNN with distinct random images. */
export async function bareInferenceTime(model: string, options: BareInferenceOptions): Promise<BareInferenceTime> {
  const spin = options.spinning ? '1' : '0';
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  });
  try {
    const input = new ort.Tensor('float32', new SeededRandom(3).uniformArray(options.batch * 3 * 224 * 224), [options.batch, 3, 224, 224]);
    for (let i = 0; i < 3; i++) await session.run({ input });
    const wall: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < options.runs; i++) {
      const t0 = performance.now();
      await session.run({ input });
      wall.push((performance.now() - t0) / options.batch);
    }
    const cpu = process.cpuUsage(cpu0);
    wall.sort((a, b) => a - b);
    return {
      wallMs: { min: wall[0] ?? NaN, median: wall[Math.floor(wall.length / 2)] ?? NaN, max: wall[wall.length - 1] ?? NaN },
      cpuMs: (cpu.user + cpu.system) / 1000 / (options.runs * options.batch),
    };
  } finally {
    await session.release();
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 20);
  const models = await ensureModels(undefined, ['cnn', 'resnet18', 'mobilenetv2']);
  console.log('model        batch threads  wall ms/image min / median / max   CPU ms/image   (spinning off)');
  for (const [name, path] of Object.entries(models)) {
    for (const batch of [1, 8]) {
      for (const threads of [1, 2]) {
        const t = await bareInferenceTime(path, { batch, threads, spinning: false, runs: batch === 1 ? runs : Math.ceil(runs / 2) });
        const w = t.wallMs;
        console.log(
          `${name.padEnd(12)} ${String(batch).padStart(5)} ${String(threads).padStart(7)}  ` +
            `${w.min.toFixed(2).padStart(8)} / ${w.median.toFixed(2).padStart(6)} / ${w.max.toFixed(2).padStart(6)}   ${t.cpuMs.toFixed(2).padStart(8)}`,
        );
      }
    }
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
