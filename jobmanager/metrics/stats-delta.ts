import type { SubtaskStats } from '../../src/cluster-api/dto';
import { LATENCY_BUCKETS_MS } from '../../src/metrics/buckets';

/**
 * What a job's subtasks did during one sampling interval, summed from the differences between their
 * consecutive heartbeats (see JobMetricsSeries).
 */
export class StatsDelta {
  results = 0;
  errors = 0;
  batches = 0;
  batchedRequests = 0;
  readonly latencyCounts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);

  /** Adds `stats` minus `base` (all of `stats` without a base); negative differences count as zero. */
  add(stats: SubtaskStats, base: SubtaskStats | undefined): void {
    this.results += Math.max(0, stats.results - (base?.results ?? 0));
    for (const [code, n] of Object.entries(stats.errorsByCode)) this.errors += Math.max(0, n - (base?.errorsByCode[code] ?? 0));
    this.batches += Math.max(0, stats.batches - (base?.batches ?? 0));
    this.batchedRequests += Math.max(0, stats.batchedRequests - (base?.batchedRequests ?? 0));
    for (let i = 0; i < this.latencyCounts.length; i++) this.latencyCounts[i]! += Math.max(0, (stats.latencyCounts[i] ?? 0) - (base?.latencyCounts[i] ?? 0));
  }

  reset(): void {
    this.results = 0;
    this.errors = 0;
    this.batches = 0;
    this.batchedRequests = 0;
    this.latencyCounts.fill(0);
  }
}
