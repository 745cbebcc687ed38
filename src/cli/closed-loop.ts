import { performance } from 'node:perf_hooks';

/** The outcome of one request: undefined on success, else its error code and message. */
export type RequestOutcome = undefined | { readonly code: string; readonly message: string };

/** Options of {@link runClosedLoop}. */
export interface ClosedLoopOptions {
  /** Requests in flight at once: each finished request starts the next. */
  readonly concurrency: number;
  /** How long figures are taken, after the warm-up, in ms. */
  readonly durationMs: number;
  /** How long the load runs before figures are taken, in ms. @default 0 */
  readonly warmupMs?: number;
  /** Sends one request; resolves to its outcome. A rejection counts as an error (`CS_ERR_INTERNAL` unless it has a code). */
  send(): Promise<RequestOutcome>;
  /** Called about every `progressIntervalMs` with the figures so far (also during the warm-up). */
  onProgress?(progress: LoadProgress): void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
}

/** Figures while the load runs. */
export interface LoadProgress {
  readonly phase: 'warmup' | 'measure';
  /** ms since the phase began. */
  readonly elapsedMs: number;
  /** Successful results per second over the last interval. */
  readonly recentPerSecond: number;
  /** Median latency over the last interval, in ms (NaN with no result in it). */
  readonly recentP50Ms: number;
  /** Errors counted in the measurement so far. */
  readonly errors: number;
}

/** What {@link runClosedLoop} measured. Latencies are of successful requests. */
export interface LoadFigures {
  readonly concurrency: number;
  /** The measured window, in s (the duration asked, unless the load stopped early). */
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Requests started and finished inside the window: results plus errors. */
  readonly requests: number;
  readonly errors: number;
  /** Errors by code. */
  readonly errorCodes: Readonly<Record<string, number>>;
  /** The first error in the window, for a message. */
  readonly firstError?: { readonly code: string; readonly message: string };
  /** Successful results per second. */
  readonly throughput: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
}

/** The nearest-rank percentile of sorted values (NaN for none). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A growable list of latencies (ms) in one Float64Array, no boxing per sample. */
class Samples {
  private data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  sorted(from = 0): Float64Array {
    return this.data.slice(from, this.length).sort();
  }
}

function outcomeOf(err: unknown): { code: string; message: string } {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'CS_ERR_INTERNAL';
  return { code, message: err instanceof Error ? err.message : String(err) };
}

/**
 * Closed-loop load: `concurrency` loops, each sending a request as soon as its previous one finished,
 * for the warm-up and then the measured window. Counts requests that started and finished inside the
 * window; throughput is successful results per second of the window. Waits for the requests still in
 * flight at the end (their outcomes are not counted).
 *
 * @example
 * const figures = await runClosedLoop({ concurrency: 16, durationMs: 10_000, warmupMs: 1000, send: () => q.predictResult(inputs).then(toOutcome) });
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<LoadFigures> {
  const warmupMs = options.warmupMs ?? 0;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + options.durationMs;
  const latencies = new Samples();
  const errorCodes: Record<string, number> = {};
  let errors = 0;
  let firstError: { code: string; message: string } | undefined;
  let stopped = false;

  // Progress: figures of the last interval, in both phases.
  let recent = new Samples();
  let lastTick = start;
  const interval = options.progressIntervalMs ?? 1000;
  const timer = options.onProgress
    ? setInterval(() => {
        const now = performance.now();
        const window = recent.sorted();
        recent = new Samples();
        const phase = now < measureFrom ? 'warmup' : 'measure';
        options.onProgress?.({ phase, elapsedMs: phase === 'warmup' ? now - start : now - measureFrom, recentPerSecond: (window.length * 1000) / (now - lastTick), recentP50Ms: percentile(window, 50), errors });
        lastTick = now;
      }, interval)
    : undefined;

  const loop = async (): Promise<void> => {
    while (!stopped) {
      const sentAt = performance.now();
      if (sentAt >= end) break;
      let outcome: RequestOutcome;
      try {
        outcome = await options.send();
      } catch (err) {
        outcome = outcomeOf(err);
      }
      const doneAt = performance.now();
      if (outcome === undefined) recent.push(doneAt - sentAt);
      // A failure can come back at once (no server): let timers and I/O run between them.
      else await new Promise((resolve) => setImmediate(resolve));
      if (sentAt < measureFrom || doneAt > end) continue;
      if (outcome === undefined) {
        latencies.push(doneAt - sentAt);
      } else {
        errors++;
        errorCodes[outcome.code] = (errorCodes[outcome.code] ?? 0) + 1;
        firstError ??= outcome;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, loop));
  } finally {
    stopped = true;
    if (timer) clearInterval(timer);
  }
  const seconds = Math.max(0, Math.min(performance.now(), end) - measureFrom) / 1000;
  const sorted = latencies.sorted();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    concurrency: options.concurrency,
    seconds,
    warmupSeconds: warmupMs / 1000,
    requests: sorted.length + errors,
    errors,
    errorCodes,
    firstError,
    throughput: seconds > 0 ? sorted.length / seconds : 0,
    latencyMs: { mean: sorted.length ? sum / sorted.length : NaN, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN },
  };
}
