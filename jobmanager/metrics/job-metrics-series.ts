import type { JobMetrics, JobMetricsPoint, JobState, RunningSubtask, SubtaskStats } from '../../src/cluster-api/dto';
import type { Logger } from '../../src/logging/logger';
import { LATENCY_BUCKETS_MS, percentileFromBuckets } from '../../src/metrics/buckets';
import { StatsDelta } from './stats-delta';

/** A job as the series needs it. */
export interface SeriesJob {
  readonly id: string;
  readonly name: string;
  readonly state: JobState;
}

/** One sample as {@link JobMetricsSeries.subscribe} hands it out. */
export interface JobMetricsSample {
  readonly jobId: string;
  readonly jobName: string;
  readonly point: JobMetricsPoint;
  readonly totals: JobMetrics['totals'];
}

/** What a {@link JobMetricsSeries} works with. */
export interface JobMetricsSeriesOptions {
  /** The jobs to sample: every CREATED, RUNNING or DEGRADED one gets a point per interval. */
  readonly jobs: () => Promise<readonly SeriesJob[]>;
  /** Entries not yet delivered (lag) and delivered but not acknowledged (pending), summed over the job's splits. */
  readonly splitLoad?: (jobId: string) => Promise<{ lag: number; pending: number }>;
  /** @default 1000 */
  readonly intervalMs?: number;
  /** How long points are kept, in ms. @default 600000 (10 minutes) */
  readonly retentionMs?: number;
  /** ms since epoch; injectable for tests. @default Date.now */
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** A job's figures between two samples, and since submit. */
interface JobSeries {
  name: string;
  active: boolean;
  /** When the last point was taken (ms since epoch); undefined before the first. */
  lastAt: number | undefined;
  readonly interval: StatsDelta;
  readonly totals: { requests: number; errors: number; errorsByCode: Map<string, number> };
  points: JobMetricsPoint[];
}

/** Keys a subtask's stream of heartbeats: one per TaskManager, job and subtask index. */
function streamKey(jobId: string, subtaskIndex: number): string {
  return `${jobId}\u0000${subtaskIndex}`;
}

function isLive(state: JobState): boolean {
  return state === 'CREATED' || state === 'RUNNING' || state === 'DEGRADED';
}

/**
 * Turns the cumulative per-subtask figures the TaskManagers send with their heartbeats
 * (`RunningSubtask.stats`) into per-job samples ({@link JobMetricsPoint}), one per job and interval
 * (a second by default), kept for ten minutes: `GET /jobs/:jobId/metrics`, the dashboard and
 * TensorBoard read them.
 *
 * Each heartbeat is compared with the previous one from the same TaskManager, job and subtask; the
 * difference goes into the job's current interval and its totals. Counters never run backwards: a
 * subtask that started again (new `since`, or a counter lower than before: moved away and back, its
 * TaskManager restarted) counts from zero, and a subtask first seen (moved here, or this JobManager
 * restarted) adds only what it did since the series started to the interval (all of it to the totals).
 *
 * Hand-written: it is a counter-delta-and-bucket aggregation over our own heartbeat contract, which no
 * metrics library offers (prom-client aggregates in-process observations only).
 *
 * @example
 * const series = new JobMetricsSeries({ jobs: async () => (await control.listJobs()).jobs });
 * series.start();
 * const stop = series.subscribe(({ jobName, point }) => console.log(jobName, point.requestsPerSec));
 */
export class JobMetricsSeries {
  readonly intervalMs: number;
  readonly retentionMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly jobs = new Map<string, JobSeries>();
  /** Per TaskManager, the last stats of each subtask it reported. */
  private readonly last = new Map<string, Map<string, SubtaskStats>>();
  private readonly listeners = new Set<(sample: JobMetricsSample) => void>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private closed = false;
  /** Samples failed in a row. */
  private failures = 0;

  constructor(private readonly options: JobMetricsSeriesOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.retentionMs = options.retentionMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  /**
   * Calls `listener` with every new sample of every job (after it is stored); answers a function that
   * unsubscribes. A listener that throws is logged and kept.
   */
  subscribe(listener: (sample: { jobId: string; jobName: string; point: JobMetricsPoint; totals: JobMetrics['totals'] }) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Takes in one heartbeat: what `taskManagerId` reports running, with each subtask's cumulative stats. */
  ingest(taskManagerId: string, running: readonly RunningSubtask[]): void {
    const previous = this.last.get(taskManagerId);
    const current = new Map<string, SubtaskStats>();
    for (const r of running) {
      if (!r.stats || !validStats(r.stats)) continue;
      const key = streamKey(r.jobId, r.subtaskIndex);
      current.set(key, r.stats);
      const before = previous?.get(key);
      const job = this.jobSeries(r.jobId);
      const restarted = before !== undefined && (before.since !== r.stats.since || wentDown(before, r.stats));
      const base = before === undefined || restarted ? undefined : before;
      // First seen and started before this series did: its past is in the totals, not in this interval.
      const countsNow = before !== undefined || r.stats.since >= this.startedAt;
      addTotals(job, r.stats, base);
      if (countsNow) job.interval.add(r.stats, base);
    }
    if (current.size > 0) this.last.set(taskManagerId, current);
    else this.last.delete(taskManagerId);
  }

  /** Forgets a TaskManager's subtasks (it deregistered or was lost); what they did stays in the totals. */
  forget(taskManagerId: string): void {
    this.last.delete(taskManagerId);
  }

  /**
   * The job's points after `since` (ms since epoch; all kept ones without it) and its totals; undefined
   * when no figures of it are held (an unknown job, or one finished more than the retention ago).
   */
  metrics(jobId: string, since?: number): JobMetrics | undefined {
    const job = this.jobs.get(jobId);
    if (!job) return undefined;
    const points = since === undefined ? job.points.slice() : job.points.filter((p) => p.at > since);
    return { jobId, intervalMs: this.intervalMs, points, totals: totalsOf(job) };
  }

  /** The jobs with figures held: id, name, whether still sampled, totals and last point (for Prometheus). */
  *summaries(): Iterable<{ jobId: string; jobName: string; active: boolean; totals: JobMetrics['totals']; last: JobMetricsPoint | undefined }> {
    for (const [jobId, job] of this.jobs) yield { jobId, jobName: job.name, active: job.active, totals: totalsOf(job), last: job.points[job.points.length - 1] };
  }

  /** Samples every interval until {@link close}. Idempotent. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = (): void => {
      this.sampling = this.sample()
        .then(
          () => {
            if (this.failures > 0) this.options.logger?.info({ component: 'jobmanager.metrics', failures: this.failures }, 'jobmanager.metrics.sample_recovered');
            this.failures = 0;
          },
          // Once per outage at warn (Redis restarting fails every sample until it is back).
          (err: unknown) => this.options.logger?.[this.failures++ === 0 ? 'warn' : 'debug']({ component: 'jobmanager.metrics', err }, 'jobmanager.metrics.sample_failed'),
        )
        .finally(() => {
          this.sampling = undefined;
          if (!this.closed) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  /** Stops sampling; resolves once a sample in progress has finished. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /**
   * Takes one sample of every live job now (the timer calls it every interval; tests call it with an
   * injected clock): its rates over the time since its last sample, latency percentiles and mean batch
   * size from what the heartbeats brought meanwhile, and lag and pending read now.
   */
  async sample(): Promise<void> {
    const jobs = await this.options.jobs();
    const now = this.now();
    const taken: { jobId: string; job: JobSeries; point: Omit<JobMetricsPoint, 'lag' | 'pending'> }[] = [];
    const listed = new Set<string>();
    for (const j of jobs) {
      listed.add(j.id);
      const live = isLive(j.state);
      let job = this.jobs.get(j.id);
      if (!job && !live) continue;
      job ??= this.jobSeries(j.id);
      job.name = j.name;
      job.active = live;
      if (!live) continue;
      const elapsedMs = job.lastAt === undefined ? this.intervalMs : Math.max(1, now - job.lastAt);
      taken.push({ jobId: j.id, job, point: pointOf(job.interval, now, elapsedMs) });
      job.interval.reset();
      job.lastAt = now;
    }
    const loads = await Promise.all(taken.map(({ jobId }) => this.loadOf(jobId)));
    taken.forEach(({ jobId, job, point }, i) => {
      const full: JobMetricsPoint = { ...point, ...loads[i]! };
      job.points.push(full);
      const sample: JobMetricsSample = { jobId, jobName: job.name, point: full, totals: totalsOf(job) };
      for (const listener of this.listeners) {
        try {
          listener(sample);
        } catch (err) {
          this.options.logger?.warn({ component: 'jobmanager.metrics', err }, 'jobmanager.metrics.listener_failed');
        }
      }
    });
    const oldest = now - this.retentionMs;
    for (const [jobId, job] of this.jobs) {
      while (job.points.length > 0 && job.points[0]!.at <= oldest) job.points.shift();
      // A job gone from the list, or finished with no point left, is dropped.
      const gone = !listed.has(jobId) && job.lastAt !== undefined;
      if (gone || (!job.active && job.points.length === 0 && job.lastAt !== undefined)) this.jobs.delete(jobId);
    }
  }

  private async loadOf(jobId: string): Promise<{ lag: number; pending: number }> {
    if (!this.options.splitLoad) return { lag: 0, pending: 0 };
    try {
      return await this.options.splitLoad(jobId);
    } catch (err) {
      this.options.logger?.debug({ component: 'jobmanager.metrics', jobId, err }, 'jobmanager.metrics.split_load_unavailable');
      const job = this.jobs.get(jobId);
      const last = job?.points[job.points.length - 1];
      return { lag: last?.lag ?? 0, pending: last?.pending ?? 0 };
    }
  }

  private jobSeries(jobId: string): JobSeries {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = { name: '', active: true, lastAt: undefined, interval: new StatsDelta(), totals: { requests: 0, errors: 0, errorsByCode: new Map() }, points: [] };
      this.jobs.set(jobId, job);
    }
    return job;
  }
}

/** Whether a counter of `after` is below the same counter of `before` (the subtask started again). */
function wentDown(before: SubtaskStats, after: SubtaskStats): boolean {
  if (after.results < before.results || after.batches < before.batches || after.batchedRequests < before.batchedRequests) return true;
  for (const [code, n] of Object.entries(before.errorsByCode)) if ((after.errorsByCode[code] ?? 0) < n) return true;
  for (let i = 0; i < before.latencyCounts.length; i++) if ((after.latencyCounts[i] ?? 0) < before.latencyCounts[i]!) return true;
  return false;
}

/** Stats whose histogram has the shape of LATENCY_BUCKETS_MS (anything else is ignored). */
function validStats(stats: SubtaskStats): boolean {
  return stats.latencyCounts.length === LATENCY_BUCKETS_MS.length + 1;
}

function addTotals(job: JobSeries, stats: SubtaskStats, base: SubtaskStats | undefined): void {
  job.totals.requests += stats.results - (base?.results ?? 0);
  for (const [code, n] of Object.entries(stats.errorsByCode)) {
    const d = n - (base?.errorsByCode[code] ?? 0);
    if (d <= 0) continue;
    job.totals.errors += d;
    job.totals.errorsByCode.set(code, (job.totals.errorsByCode.get(code) ?? 0) + d);
  }
}

function totalsOf(job: JobSeries): JobMetrics['totals'] {
  return { requests: job.totals.requests, errors: job.totals.errors, errorsByCode: Object.fromEntries(job.totals.errorsByCode) };
}

/** The rates and percentiles of one interval of `elapsedMs`. */
function pointOf(d: StatsDelta, at: number, elapsedMs: number): Omit<JobMetricsPoint, 'lag' | 'pending'> {
  const perSec = 1000 / elapsedMs;
  return {
    at,
    requestsPerSec: d.results * perSec,
    errorsPerSec: d.errors * perSec,
    latencyP50Ms: percentileFromBuckets(LATENCY_BUCKETS_MS, d.latencyCounts, 0.5),
    latencyP90Ms: percentileFromBuckets(LATENCY_BUCKETS_MS, d.latencyCounts, 0.9),
    latencyP99Ms: percentileFromBuckets(LATENCY_BUCKETS_MS, d.latencyCounts, 0.99),
    meanBatchSize: d.batches > 0 ? d.batchedRequests / d.batches : null,
  };
}
