import type { SubtaskStats } from '../cluster-api/dto';
import { BATCH_SIZE_BUCKETS, INFERENCE_BUCKETS_MS, LATENCY_BUCKETS_MS, bucketIndex } from './buckets';

/** The ms timestamp a Redis stream entry id starts with (`<ms>-<seq>`); NaN for anything else. */
export function entryIdMs(entryId: string): number {
  return Number.parseInt(entryId, 10);
}

/**
 * One subtask's figures since it started, counted on the hot path with plain number increments and
 * bucket counts (no allocation per request, no label hashing): the heartbeat sends them to the JobManager
 * ({@link SubtaskMeter.stats}), and the TaskManager's Prometheus registry reads them when scraped.
 * prom-client's `observe` costs about 50 times a bucket increment here (it builds a label key per call),
 * which is why the histograms are counted here and exported at scrape time.
 *
 * @example
 * const meter = new SubtaskMeter({ job: 'tiny', jobId, subtaskIndex: 0 });
 * meter.read('tiny-0');
 * meter.result('tiny-0', '1712345678901-0', undefined, Date.now());
 */
export class SubtaskMeter {
  readonly job: string;
  readonly jobId: string;
  readonly subtaskIndex: number;
  /** ms since epoch: when counting began. */
  readonly since: number;
  /** Entries read, per split. */
  readonly readBySplit = new Map<string, number>();
  /** Results written (error results included), per split. */
  readonly resultsBySplit = new Map<string, number>();
  results = 0;
  /** Error results by code. */
  readonly errorsByCode = new Map<string, number>();
  /** End-to-end latency histogram (ms), see LATENCY_BUCKETS_MS; and the sum of what was counted. */
  readonly latencyCounts = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  latencySumMs = 0;
  /** Inference (model run) time per batch (ms), see INFERENCE_BUCKETS_MS. */
  readonly inferenceCounts = new Float64Array(INFERENCE_BUCKETS_MS.length + 1);
  inferenceSumMs = 0;
  /** Requests per batch, see BATCH_SIZE_BUCKETS. */
  readonly batchSizeCounts = new Float64Array(BATCH_SIZE_BUCKETS.length + 1);
  batches = 0;
  batchedRequests = 0;
  /** Entries parked in the dead-letter stream. */
  deadLetters = 0;
  /** How long loading the model took (ms); undefined until loaded. */
  modelLoadMs: number | undefined;
  /** Requests read and not yet answered right now (set by the runner; counted when scraped). */
  inFlight: () => number = () => 0;
  /** Lag and pending entries of each split, read from Redis on demand (set by the runner). */
  splitLoad: (() => Promise<readonly { split: string; lag: number | null; pending: number }[]>) | undefined;

  constructor(options: { job: string; jobId: string; subtaskIndex: number; now?: number }) {
    this.job = options.job;
    this.jobId = options.jobId;
    this.subtaskIndex = options.subtaskIndex;
    this.since = options.now ?? Date.now();
  }

  /** An entry of `split` was read. */
  read(split: string): void {
    this.readBySplit.set(split, (this.readBySplit.get(split) ?? 0) + 1);
  }

  /**
   * A result was written for the entry `entryId` of `split` (an error result when `errorCode` is set), at
   * `now` (ms since epoch): counted, and its end-to-end latency taken from the entry id's timestamp.
   */
  result(split: string, entryId: string, errorCode: string | undefined, now: number): void {
    this.results++;
    this.resultsBySplit.set(split, (this.resultsBySplit.get(split) ?? 0) + 1);
    if (errorCode !== undefined) this.errorsByCode.set(errorCode, (this.errorsByCode.get(errorCode) ?? 0) + 1);
    const ms = now - entryIdMs(entryId);
    if (ms >= 0) {
      this.latencyCounts[bucketIndex(LATENCY_BUCKETS_MS, ms)]!++;
      this.latencySumMs += ms;
    }
  }

  /** An inference batch of `rows` requests ran for `ms`. */
  batch(rows: number, ms: number): void {
    this.batches++;
    this.batchedRequests += rows;
    this.batchSizeCounts[bucketIndex(BATCH_SIZE_BUCKETS, rows)]!++;
    this.inferenceCounts[bucketIndex(INFERENCE_BUCKETS_MS, ms)]!++;
    this.inferenceSumMs += ms;
  }

  /** `count` entries were parked in the dead-letter stream. */
  parked(count: number): void {
    this.deadLetters += count;
  }

  /** Adds the counts of `other` (a subtask that is gone) to this one's; gauges are left alone. */
  absorb(other: SubtaskMeter): void {
    addCounts(this.readBySplit, other.readBySplit);
    addCounts(this.resultsBySplit, other.resultsBySplit);
    addCounts(this.errorsByCode, other.errorsByCode);
    this.results += other.results;
    addBuckets(this.latencyCounts, other.latencyCounts);
    this.latencySumMs += other.latencySumMs;
    addBuckets(this.inferenceCounts, other.inferenceCounts);
    this.inferenceSumMs += other.inferenceSumMs;
    addBuckets(this.batchSizeCounts, other.batchSizeCounts);
    this.batches += other.batches;
    this.batchedRequests += other.batchedRequests;
    this.deadLetters += other.deadLetters;
  }

  /** The cumulative figures the heartbeat carries. */
  stats(): SubtaskStats {
    return {
      since: this.since,
      results: this.results,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      latencyCounts: Array.from(this.latencyCounts),
      batches: this.batches,
      batchedRequests: this.batchedRequests,
    };
  }
}

function addCounts(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [key, n] of from) into.set(key, (into.get(key) ?? 0) + n);
}

function addBuckets(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < into.length; i++) into[i]! += from[i] ?? 0;
}
