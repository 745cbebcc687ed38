import { Command, Option } from 'commander';
import { ClusterServingError, isErrorCode } from '../../errors';
import type { Tensor } from '../../tensor/tensor';
import type { CliOutput } from '../cli-output';
import { withProgress } from '../progress';
import { openInputQueue } from '../open-input-queue';
import { asClientError } from '../client-error';
import { runClosedLoop, type LoadFigures, type LoadProgress, type RequestOutcome } from '../closed-loop';
import { formatTable } from '../format-table';
import { addTargetFlags, integerFlag, secondsFlag, targetFlags } from '../job-target-flags';
import { readRequestInputs, syntheticInputs, type Fill } from '../request-inputs';
import { resolveServingTarget, type ServingTarget } from '../serving-target';

const DEFAULT_TIMEOUT_MS = 10_000;

interface BenchFlags {
  readonly concurrency: number;
  readonly duration: number;
  readonly warmup: number;
  readonly fill: Fill;
  readonly json?: boolean;
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');

/** The figures as `cs bench` prints them: one `name  value` line each. */
export function formatLoadFigures(target: ServingTarget, f: LoadFigures): string {
  const codes = Object.entries(f.errorCodes).map(([code, n]) => `${code} ${n}`).join(', ');
  return formatTable(
    ['BENCH', `${target.label} (stream ${target.stream})`],
    [
      ['concurrency', String(f.concurrency)],
      ['duration', `${f.seconds.toFixed(1)} s after ${f.warmupSeconds} s warm-up`],
      ['requests', String(f.requests)],
      ['errors', f.errors === 0 ? '0' : `${f.errors} (${codes})`],
      ['throughput', `${f.throughput.toFixed(1)} req/s`],
      ['latency p50', `${ms(f.latencyMs.p50)} ms`],
      ['latency p90', `${ms(f.latencyMs.p90)} ms`],
      ['latency p99', `${ms(f.latencyMs.p99)} ms`],
      ['latency max', `${ms(f.latencyMs.max)} ms`],
      ['latency mean', `${ms(f.latencyMs.mean)} ms`],
    ],
  );
}

/** The figures as `cs bench --json` prints them (one line). */
export function loadFiguresJson(target: ServingTarget, f: LoadFigures): Record<string, unknown> {
  const round = (v: number): number | null => (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null);
  return {
    target: target.label,
    stream: target.stream,
    concurrency: f.concurrency,
    durationS: round(f.seconds),
    warmupS: f.warmupSeconds,
    requests: f.requests,
    errors: f.errors,
    errorCodes: f.errorCodes,
    requestsPerSecond: round(f.throughput),
    latencyMs: { p50: round(f.latencyMs.p50), p90: round(f.latencyMs.p90), p99: round(f.latencyMs.p99), max: round(f.latencyMs.max), mean: round(f.latencyMs.mean) },
  };
}

/** One progress line on stderr (rewritten in place on a terminal). */
function progressLine(p: LoadProgress, flags: BenchFlags): string {
  const where = p.phase === 'warmup' ? `warming up ${(p.elapsedMs / 1000).toFixed(0)}/${flags.warmup} s` : `${(p.elapsedMs / 1000).toFixed(0)}/${flags.duration} s`;
  return `bench: ${where}  ${p.recentPerSecond.toFixed(0)} req/s  p50 ${ms(p.recentP50Ms)} ms  errors ${p.errors}`;
}

/**
 * `cs bench JOB [--concurrency N] [--duration S]`: closed-loop load from this process (N requests in
 * flight, each finished one starting the next) against a running job after a warm-up; prints requests/s
 * and latency percentiles of the measured window, progress on stderr while it runs.
 */
export function benchCommand(output: CliOutput): Command {
  const bench = addTargetFlags(
    new Command('bench').description('closed-loop load against a running job: requests/s and latency percentiles (default input: the model\'s declared inputs, batch 1)'),
    DEFAULT_TIMEOUT_MS,
  )
    .addOption(new Option('--concurrency <n>', 'requests in flight').env('CS_BENCH_CONCURRENCY').argParser(integerFlag(1, 4096)).default(16))
    .addOption(new Option('--duration <s>', 'seconds measured, after the warm-up').env('CS_BENCH_DURATION').argParser(secondsFlag(0.1)).default(10))
    .addOption(new Option('--warmup <s>', 'seconds of load before measuring').env('CS_BENCH_WARMUP').argParser(secondsFlag(0)).default(1))
    .addOption(new Option('--fill <how>', 'values of the default input').choices(['random', 'zeros']).env('CS_BENCH_FILL').default('random'))
    .addOption(new Option('--json', 'print the figures as one JSON line').env('CS_BENCH_JSON'));
  bench.action(async (job: string | undefined, file: string | undefined) => {
    const flags = targetFlags(bench, job, file);
    const opts = bench.opts<BenchFlags>();
    const target = await resolveServingTarget(flags.ref, flags.options);
    const inputs: Map<string, Tensor> = flags.inputs.length > 0 ? await readRequestInputs(flags.inputs, target, flags.fileFlags) : syntheticInputs(target, opts.fill);
    const queue = await openInputQueue(target);
    const tty = process.stderr.isTTY === true;
    try {
      // One request first: a job that cannot serve this input says so once, instead of N times a second.
      const first = await withProgress('bench: first request', () => queue.predictResult(inputs, { timeoutMs: flags.timeoutMs }), { mode: 'tty-only', summary: () => 'answered' }).catch((err: unknown) => {
        throw asClientError(err, target.redisUrl);
      });
      if (first.error) throw new ClusterServingError(isErrorCode(first.error.code) ? first.error.code : 'CS_ERR_INTERNAL', first.error.message);
      const send = async (): Promise<RequestOutcome> => {
        const result = await queue.predictResult(inputs, { timeoutMs: flags.timeoutMs });
        return result.error ? { code: result.error.code, message: result.error.message } : undefined;
      };
      process.stderr.write(`bench: ${target.label}, ${opts.concurrency} in flight, ${opts.warmup} s warm-up then ${opts.duration} s\n`);
      const figures = await runClosedLoop({
        concurrency: opts.concurrency,
        durationMs: opts.duration * 1000,
        warmupMs: opts.warmup * 1000,
        send,
        onProgress: (p) => process.stderr.write(tty ? `\r\x1b[K${progressLine(p, opts)}` : `${progressLine(p, opts)}\n`),
      });
      if (tty) process.stderr.write('\r\x1b[K');
      if (figures.requests > 0 && figures.errors === figures.requests && figures.firstError) {
        const { code, message } = figures.firstError;
        throw new ClusterServingError(isErrorCode(code) ? code : 'CS_ERR_INTERNAL', `every request failed (${figures.errors}); the first: ${message}`);
      }
      if (opts.json) output.out(JSON.stringify(loadFiguresJson(target, figures)));
      else output.out(formatLoadFigures(target, figures));
      if (figures.firstError) process.stderr.write(`bench: ${figures.errors} error(s), the first: ${figures.firstError.message} (${figures.firstError.code})\n`);
    } finally {
      await queue.close();
    }
  });
  return bench;
}
