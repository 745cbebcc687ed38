import { Counter, Gauge, Registry } from 'prom-client';
import { BATCH_SIZE_BUCKETS, INFERENCE_BUCKETS_MS, LATENCY_BUCKETS_MS } from '../src/metrics/buckets';
import { CollectedHistogram, type BucketSeries } from '../src/metrics/collected-histogram';
import { metricsText } from '../src/metrics/process-registry';
import { SubtaskMeter } from '../src/metrics/subtask-meter';
import type { SubtaskMeters } from './slot-table';

/** How long a scrape waits for a split's lag from Redis before leaving it out, in ms. */
const SPLIT_LOAD_TIMEOUT_MS = 2000;
/** Lag and pending read for one scrape are reused by the other gauge within this many ms. */
const SPLIT_LOAD_REUSE_MS = 500;

type JobLabels = 'job' | 'taskmanager';

const seconds = (ms: readonly number[]): number[] => ms.map((v) => v / 1000);

/**
 * The TaskManager's Prometheus figures, in a registry of its own (a JobManager and TaskManagers can share
 * one process: `cs start`, the tests). The subtasks count on their {@link SubtaskMeter}s; the figures are
 * read from them when scraped. A subtask that is gone leaves its counts behind (per job), so counters
 * never go down while this process lives.
 *
 * Triton's equivalents: cs_results_total ≈ nv_inference_request_success + nv_inference_request_failure,
 * cs_error_results_total ≈ nv_inference_request_failure, cs_request_latency_seconds ≈
 * nv_inference_request_duration_us (end to end here, from the stream entry's timestamp), cs_inference_duration_seconds ≈
 * nv_inference_compute_infer_duration_us, cs_batch_size ≈ nv_inference_exec_count / nv_inference_count,
 * cs_inflight_requests ≈ nv_inference_pending_request_count, cs_split_lag ≈ nv_inference_queue_* (the
 * stream is the queue).
 */
export class TaskManagerMetrics implements SubtaskMeters {
  readonly registry = new Registry();
  private readonly live = new Set<SubtaskMeter>();
  /** Per job name, the counts of its subtasks that are gone. */
  private readonly retired = new Map<string, SubtaskMeter>();
  private loads: { at: number; value: Promise<{ labels: Record<string, string>; lag: number | null; pending: number }[]> } | undefined;

  constructor(
    private readonly taskManagerId: string,
    private readonly slots: number,
  ) {
    const registers = [this.registry];
    const self = this;

    new Counter({
      name: 'cs_requests_read_total',
      help: 'Requests read from the source, per split',
      labelNames: ['job', 'split', 'taskmanager'],
      registers,
      collect() {
        self.fillCounter(this, (m) => m.readBySplit, 'split');
      },
    });
    new Counter({
      name: 'cs_results_total',
      help: 'Results written to the sink (error results included), per split',
      labelNames: ['job', 'split', 'taskmanager'],
      registers,
      collect() {
        self.fillCounter(this, (m) => m.resultsBySplit, 'split');
      },
    });
    new Counter({
      name: 'cs_error_results_total',
      help: 'Error results written, by error code',
      labelNames: ['job', 'code', 'taskmanager'],
      registers,
      collect() {
        self.fillCounter(this, (m) => m.errorsByCode, 'code');
      },
    });
    new Counter({
      name: 'cs_dead_letters_total',
      help: 'Entries parked in the dead-letter stream (poison and unusable entries)',
      labelNames: ['job', 'taskmanager'],
      registers,
      collect() {
        self.fillCounter(this, (m) => new Map([['', m.deadLetters]]), undefined);
      },
    });
    new CollectedHistogram<JobLabels>({
      name: 'cs_request_latency_seconds',
      help: 'End-to-end latency: request written to the stream (its entry id) to result written',
      labelNames: ['job', 'taskmanager'],
      buckets: seconds(LATENCY_BUCKETS_MS),
      registers,
      read: () => this.histograms((m) => m.latencyCounts, (m) => m.latencySumMs / 1000),
    });
    new CollectedHistogram<JobLabels>({
      name: 'cs_inference_duration_seconds',
      help: 'Time of one inference batch in the model',
      labelNames: ['job', 'taskmanager'],
      buckets: seconds(INFERENCE_BUCKETS_MS),
      registers,
      read: () => this.histograms((m) => m.inferenceCounts, (m) => m.inferenceSumMs / 1000),
    });
    new CollectedHistogram<JobLabels>({
      name: 'cs_batch_size',
      help: 'Requests per inference batch',
      labelNames: ['job', 'taskmanager'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
      read: () => this.histograms((m) => m.batchSizeCounts, (m) => m.batchedRequests),
    });
    new Gauge({
      name: 'cs_inflight_requests',
      help: 'Requests read and not yet answered (between source and sink)',
      labelNames: ['job', 'taskmanager'],
      registers,
      collect() {
        this.reset();
        for (const m of self.live) this.inc({ job: m.job, taskmanager: self.taskManagerId }, m.inFlight());
      },
    });
    new Gauge({
      name: 'cs_model_load_seconds',
      help: 'How long the running subtask took to load its model',
      labelNames: ['job', 'subtask', 'taskmanager'],
      registers,
      collect() {
        this.reset();
        for (const m of self.live) if (m.modelLoadMs !== undefined) this.set({ job: m.job, subtask: String(m.subtaskIndex), taskmanager: self.taskManagerId }, m.modelLoadMs / 1000);
      },
    });
    new Gauge({
      name: 'cs_split_lag',
      help: 'Entries of the split not yet delivered to any reader (XINFO GROUPS lag; left out when Redis cannot tell)',
      labelNames: ['job', 'split', 'taskmanager'],
      registers,
      async collect() {
        this.reset();
        for (const { labels, lag } of await self.splitLoads()) if (lag !== null) this.set(labels, lag);
      },
    });
    new Gauge({
      name: 'cs_split_pending',
      help: 'Entries of the split delivered and not yet acknowledged',
      labelNames: ['job', 'split', 'taskmanager'],
      registers,
      async collect() {
        this.reset();
        for (const { labels, pending } of await self.splitLoads()) this.set(labels, pending);
      },
    });
    new Gauge({
      name: 'cs_taskmanager_slots',
      help: 'Slots of this TaskManager',
      labelNames: ['taskmanager'],
      registers,
      collect() {
        this.set({ taskmanager: self.taskManagerId }, self.slots);
      },
    });
    new Gauge({
      name: 'cs_taskmanager_subtasks',
      help: 'Subtasks running on this TaskManager',
      labelNames: ['taskmanager'],
      registers,
      collect() {
        this.set({ taskmanager: self.taskManagerId }, self.live.size);
      },
    });
  }

  track(meter: SubtaskMeter): void {
    this.live.add(meter);
  }

  retire(meter: SubtaskMeter): void {
    if (!this.live.delete(meter)) return;
    let gone = this.retired.get(meter.job);
    if (!gone) this.retired.set(meter.job, (gone = new SubtaskMeter({ job: meter.job, jobId: '', subtaskIndex: -1 })));
    gone.absorb(meter);
  }

  /** The Prometheus text of every figure, the process's (CPU, memory, event loop) included. */
  metrics(): Promise<string> {
    return metricsText(this.registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every running subtask's splits' lag and pending, read once per scrape (both gauges use it). */
  private splitLoads(): Promise<{ labels: Record<string, string>; lag: number | null; pending: number }[]> {
    const now = Date.now();
    if (this.loads && now - this.loads.at < SPLIT_LOAD_REUSE_MS) return this.loads.value;
    const value = Promise.all(
      [...this.live].map(async (m) => (await splitLoadOf(m)).map((s) => ({ labels: { job: m.job, split: s.split, taskmanager: this.taskManagerId }, lag: s.lag, pending: s.pending }))),
    ).then((lists) => lists.flat());
    this.loads = { at: now, value };
    return value;
  }

  private *meters(): Iterable<SubtaskMeter> {
    yield* this.retired.values();
    yield* this.live;
  }

  /** Sets a counter from the meters' per-key counts, summed per job (and key when `keyLabel` is named). */
  private fillCounter(counter: Counter<string>, counts: (m: SubtaskMeter) => ReadonlyMap<string, number>, keyLabel: string | undefined): void {
    const sums = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const m of this.meters()) {
      for (const [key, n] of counts(m)) {
        const id = `${m.job}\u0000${key}`;
        const entry = sums.get(id);
        if (entry) entry.value += n;
        else sums.set(id, { labels: { job: m.job, taskmanager: this.taskManagerId, ...(keyLabel ? { [keyLabel]: key } : {}) }, value: n });
      }
    }
    counter.reset();
    for (const { labels, value } of sums.values()) counter.inc(labels, value);
  }

  /** One histogram per job: the meters' bucket counts and sums added up. */
  private histograms(counts: (m: SubtaskMeter) => Float64Array, sum: (m: SubtaskMeter) => number): BucketSeries<JobLabels>[] {
    const byJob = new Map<string, { labels: Record<JobLabels, string>; counts: Float64Array; sum: number }>();
    for (const m of this.meters()) {
      const c = counts(m);
      let entry = byJob.get(m.job);
      if (!entry) byJob.set(m.job, (entry = { labels: { job: m.job, taskmanager: this.taskManagerId }, counts: new Float64Array(c.length), sum: 0 }));
      for (let i = 0; i < c.length; i++) entry.counts[i]! += c[i]!;
      entry.sum += sum(m);
    }
    return [...byJob.values()];
  }
}

/** The subtask's splits' lag and pending entries, or none when Redis does not answer in time. */
async function splitLoadOf(meter: SubtaskMeter): Promise<readonly { split: string; lag: number | null; pending: number }[]> {
  if (!meter.splitLoad) return [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<[]>((resolve) => (timer = setTimeout(() => resolve([]), SPLIT_LOAD_TIMEOUT_MS)));
  try {
    return await Promise.race([meter.splitLoad().catch(() => []), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
