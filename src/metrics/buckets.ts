/**
 * Histogram bucket bounds shared by the TaskManagers (which count into them), the JobManager (which turns
 * the counts sent with the heartbeats into percentiles, see src/cluster-api/dto.ts `SubtaskStats`) and the
 * Prometheus histograms (the same bounds, in seconds where the name says so). Each bound is an inclusive
 * upper bound; a histogram has one count per bound plus a last one for everything above.
 */

/** End-to-end latency (request written to the stream → result written), ms. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000, 60_000]);

/** Time of one inference batch (model run), ms. */
export const INFERENCE_BUCKETS_MS: readonly number[] = Object.freeze([0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]);

/** Requests in one inference batch. */
export const BATCH_SIZE_BUCKETS: readonly number[] = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);

/**
 * The index of the bucket `value` falls in: the first bound ≥ value, or `bounds.length` (the overflow
 * bucket) when above them all. A linear scan: the arrays are short and the common values sit low.
 */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

/**
 * The `q`-quantile (0..1) of a histogram given as per-bucket counts (not cumulative, `bounds.length + 1`
 * of them), interpolated linearly within its bucket as Prometheus's `histogram_quantile` does: the first
 * bucket spans 0..bounds[0]; a quantile in the overflow bucket answers the highest bound. Null when the
 * histogram is empty.
 *
 * @example
 * percentileFromBuckets([10, 20], [0, 4, 0], 0.5); // 15
 */
export function percentileFromBuckets(bounds: readonly number[], counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0) return null;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (count > 0 && below + count >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
  }
  return bounds[bounds.length - 1] ?? null;
}
