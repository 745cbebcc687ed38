import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { JobMetrics, JobMetricsPoint } from '../src/cluster-api/dto';
import type { Logger } from '../src/logging/logger';
import { lastEventStep } from '../src/metrics/last-event-step';
import type { ScalarValue } from '../src/metrics/tf-event';
import { TfEventsWriter } from '../src/metrics/tfevents-writer';
import type { TensorBoardSpec } from '../src/topology/schema';

/** One sample of one job, as the JobManager's metrics series publishes it (jobmanager/metrics/job-metrics-series.ts). */
export interface TensorBoardSample {
  readonly jobId: string;
  readonly jobName: string;
  readonly point: JobMetricsPoint;
  readonly totals: JobMetrics['totals'];
}

/**
 * The scalar tags a job's run holds (one TensorBoard chart each), from one sample. A figure that has no
 * value in an interval (latency and batch size when nothing was served) is left out of that step.
 *
 * | tag                            | value                                                      |
 * |--------------------------------|------------------------------------------------------------|
 * | `throughput/requests_per_sec`  | results written per second (error results included)        |
 * | `latency/p50_ms` `p90_ms` `p99_ms` | end-to-end latency percentiles of the interval, in ms  |
 * | `batch/mean_size`              | mean requests per inference batch                          |
 * | `queue/lag`                    | entries not yet delivered to any reader (all splits)       |
 * | `queue/pending`                | entries delivered and not yet acknowledged (all splits)    |
 * | `errors/per_sec`               | error results per second                                   |
 * | `errors/total`                 | error results since submit                                 |
 * | `errors/by_code/<CODE>`        | error results since submit with that code (`CS_ERR_...`)   |
 * | `requests/total`               | results written since submit                               |
 */
export function scalarsOf(sample: TensorBoardSample): ScalarValue[] {
  const { point, totals } = sample;
  const scalars: ScalarValue[] = [{ tag: 'throughput/requests_per_sec', value: point.requestsPerSec }];
  const optional: [string, number | null][] = [
    ['latency/p50_ms', point.latencyP50Ms],
    ['latency/p90_ms', point.latencyP90Ms],
    ['latency/p99_ms', point.latencyP99Ms],
    ['batch/mean_size', point.meanBatchSize],
  ];
  for (const [tag, value] of optional) if (value !== null) scalars.push({ tag, value });
  scalars.push(
    { tag: 'queue/lag', value: point.lag },
    { tag: 'queue/pending', value: point.pending },
    { tag: 'errors/per_sec', value: point.errorsPerSec },
    { tag: 'errors/total', value: totals.errors },
  );
  for (const [code, count] of Object.entries(totals.errorsByCode).sort(([a], [b]) => (a < b ? -1 : 1))) {
    scalars.push({ tag: `errors/by_code/${code.replace(/[^A-Za-z0-9_]/g, '_')}`, value: count });
  }
  scalars.push({ tag: 'requests/total', value: totals.requests });
  return scalars;
}

/** The default run name of a job: `<jobName>-<jobId>`, as one safe directory name. */
export function defaultRunName(jobName: string, jobId: string): string {
  return `${jobName}-${jobId}`.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '').slice(0, 200) || jobId.replace(/[^A-Za-z0-9]/g, '') || 'job';
}

export interface TensorBoardRecorderOptions {
  /** The TensorBoard directory (`--tensorboard-dir`): one run directory per job inside it. */
  readonly dir: string;
  readonly logger: Logger;
  /**
   * A job's `tensorboard` topology setting (undefined when absent). When it rejects, the job gets its
   * default run. @default every job gets its default run
   */
  readonly settingOf?: (jobId: string) => Promise<TensorBoardSpec | undefined>;
  /** How often each run's buffered events are written to its file, in ms. @default 5000 */
  readonly flushIntervalMs?: number;
  /** A run with no sample for this long is closed (a job that ended); a later sample opens it again. @default 60000 */
  readonly idleCloseMs?: number;
}

/** Samples kept per job while its run is being opened; more are dropped (oldest first). */
const MAX_QUEUED = 1000;

type JobRun =
  | { readonly kind: 'opening'; readonly queue: TensorBoardSample[]; opened?: Promise<void> }
  | { readonly kind: 'off' }
  | { readonly kind: 'on'; readonly dir: string; readonly writer: TfEventsWriter; nextStep: number; lastSampleAt: number };

/**
 * Writes the JobManager's per-job samples as TensorBoard scalars (the BigDL way of watching throughput):
 * one run directory per job inside `dir`, named `<jobName>-<jobId>` or by the topology's
 * `tensorboard: { run: NAME }`, none for `tensorboard: false`. Step = the run's sample number; a run
 * opened again (a restarted JobManager, a resubmitted job naming its run) continues after the steps its
 * files already hold. {@link record} never throws and never waits: the writer buffers and flushes on
 * its own, and logs a failing write once.
 *
 * @example
 * const recorder = new TensorBoardRecorder({ dir: '/var/log/cs-tensorboard', logger, settingOf: (id) => specOf(id).then((s) => s.tensorboard) });
 * series.subscribe((sample) => recorder.record(sample));
 * // tensorboard --logdir /var/log/cs-tensorboard
 */
export class TensorBoardRecorder {
  private readonly runs = new Map<string, JobRun>();
  private readonly root: string;
  private readonly idleCloseMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: TensorBoardRecorderOptions) {
    this.root = resolve(options.dir);
    this.idleCloseMs = options.idleCloseMs ?? 60_000;
    this.sweeper = setInterval(() => this.closeIdle(), Math.max(10, Math.floor(this.idleCloseMs / 2)));
    this.sweeper.unref();
  }

  /** Records one sample as one step of its job's run. */
  record(sample: TensorBoardSample): void {
    if (this.closed) return;
    const run = this.runs.get(sample.jobId);
    if (run === undefined) {
      const opening: JobRun & { kind: 'opening' } = { kind: 'opening', queue: [sample] };
      this.runs.set(sample.jobId, opening);
      opening.opened = this.open(sample.jobId, sample.jobName, opening).catch((err: unknown) => {
        this.options.logger.warn({ component: 'tensorboard', job: sample.jobId, err }, 'tensorboard.run.failed');
        if (this.runs.get(sample.jobId) === opening) this.runs.set(sample.jobId, { kind: 'off' });
      });
      return;
    }
    if (run.kind === 'opening') {
      run.queue.push(sample);
      if (run.queue.length > MAX_QUEUED) run.queue.shift();
    } else if (run.kind === 'on') {
      this.write(run, sample);
    }
  }

  /** The run directory a job's samples go to, once its first sample opened it; undefined when none (yet, or `tensorboard: false`). */
  runDirOf(jobId: string): string | undefined {
    const run = this.runs.get(jobId);
    return run?.kind === 'on' ? run.dir : undefined;
  }

  /** Closes a job's run (its job ended), once what it was sent is written; a later sample of the job opens it again, continuing the steps. */
  async endJob(jobId: string): Promise<void> {
    const before = this.runs.get(jobId);
    if (before?.kind === 'opening') await before.opened;
    const run = this.runs.get(jobId);
    this.runs.delete(jobId);
    if (run?.kind === 'on') await run.writer.close();
  }

  /** Writes what is buffered to every open run. */
  async flush(): Promise<void> {
    await Promise.all([...this.runs.values()].map((run) => (run.kind === 'on' ? run.writer.flush() : undefined)));
  }

  /** Flushes and closes every run; later samples are ignored. Never rejects. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    // Runs still opening write what they were sent first.
    await Promise.all([...this.runs.values()].map((run) => (run.kind === 'opening' ? run.opened : undefined)));
    const runs = [...this.runs.values()];
    this.runs.clear();
    await Promise.all(runs.map((run) => (run.kind === 'on' ? run.writer.close() : undefined)));
  }

  private async open(jobId: string, jobName: string, opening: JobRun & { kind: 'opening' }): Promise<void> {
    let setting: TensorBoardSpec | undefined;
    try {
      setting = await this.options.settingOf?.(jobId);
    } catch (err) {
      this.options.logger.warn({ component: 'tensorboard', job: jobId, err }, 'tensorboard.setting.unknown');
    }
    if (this.runs.get(jobId) !== opening) return; // ended or closed meanwhile
    if (setting === false) {
      this.runs.set(jobId, { kind: 'off' });
      return;
    }
    const runName = typeof setting === 'object' ? setting.run : defaultRunName(jobName, jobId);
    const dir = this.runDirectory(runName);
    if (dir === undefined) {
      this.options.logger.warn({ component: 'tensorboard', job: jobId, run: runName }, 'tensorboard.run.refused');
      this.runs.set(jobId, { kind: 'off' });
      return;
    }
    const last = await lastEventStep(dir);
    if (this.runs.get(jobId) !== opening) return;
    const writer = new TfEventsWriter({ dir, logger: this.options.logger, ...(this.options.flushIntervalMs !== undefined ? { flushIntervalMs: this.options.flushIntervalMs } : {}) });
    const run: JobRun & { kind: 'on' } = { kind: 'on', dir, writer, nextStep: last === undefined ? 0 : last + 1, lastSampleAt: Date.now() };
    this.runs.set(jobId, run);
    for (const sample of opening.queue) this.write(run, sample);
    this.options.logger.info({ component: 'tensorboard', job: jobId, dir, firstStep: run.nextStep - opening.queue.length }, 'tensorboard.run.opened');
  }

  private write(run: JobRun & { kind: 'on' }, sample: TensorBoardSample): void {
    run.writer.addScalars(run.nextStep, scalarsOf(sample), sample.point.at);
    run.nextStep += 1;
    run.lastSampleAt = Date.now();
  }

  /** The run's directory, right inside the TensorBoard directory; undefined for a name that would leave it (never from a validated topology). */
  private runDirectory(runName: string): string | undefined {
    const dir = join(this.root, runName);
    const rel = relative(this.root, dir);
    if (rel === '' || rel === '.' || rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep)) return undefined;
    return dir;
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const [jobId, run] of this.runs) {
      if (run.kind === 'on' && now - run.lastSampleAt > this.idleCloseMs) {
        this.runs.delete(jobId);
        void run.writer.close();
      }
    }
  }
}
