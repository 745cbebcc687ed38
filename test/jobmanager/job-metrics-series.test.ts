import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { JobState, RunningSubtask, SubtaskStats } from '../../src/cluster-api/dto';
import { LATENCY_BUCKETS_MS, bucketIndex, percentileFromBuckets } from '../../src/metrics/buckets';
import { JobMetricsSeries, type JobMetricsSample } from '../../jobmanager/metrics/job-metrics-series';

/** Stats with `results` results, all of latency `latencyMs`, in batches of `batchSize`. */
function stats(since: number, results: number, options: { latencyMs?: number; errors?: Record<string, number>; batchSize?: number } = {}): SubtaskStats {
  const latencyCounts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  latencyCounts[bucketIndex(LATENCY_BUCKETS_MS, options.latencyMs ?? 10)] = results;
  const batchSize = options.batchSize ?? 1;
  return { since, results, errorsByCode: options.errors ?? {}, latencyCounts, batches: Math.floor(results / batchSize), batchedRequests: Math.floor(results / batchSize) * batchSize };
}

function running(jobId: string, subtaskIndex: number, s: SubtaskStats): RunningSubtask {
  return { jobId, subtaskIndex, stats: s };
}

/** A series on a hand-moved clock, with one job whose state the test sets. */
function setup(start = 1_000_000) {
  let now = start;
  const states = new Map<string, JobState>([['j1', 'RUNNING']]);
  const series = new JobMetricsSeries({
    now: () => now,
    jobs: async () => [...states].map(([id, state]) => ({ id, name: `name-${id}`, state })),
    splitLoad: async () => ({ lag: 7, pending: 3 }),
  });
  return {
    series,
    states,
    at: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('percentileFromBuckets', () => {
  it('interpolates within the bucket that holds the rank, as histogram_quantile does', () => {
    assert.equal(percentileFromBuckets([10, 20], [0, 4, 0], 0.5), 15);
    assert.equal(percentileFromBuckets([10, 20], [4, 0, 0], 0.5), 5);
    assert.equal(percentileFromBuckets([10, 20], [1, 1, 0], 0.5), 10);
    assert.equal(percentileFromBuckets([10, 20], [1, 1, 0], 0.75), 15);
  });

  it('answers the highest bound for a rank in the overflow bucket, and null when empty', () => {
    assert.equal(percentileFromBuckets([10, 20], [0, 0, 5], 0.99), 20);
    assert.equal(percentileFromBuckets([10, 20], [0, 0, 0], 0.5), null);
  });

  it('puts a value on a bound into that bound’s bucket (upper bounds are inclusive)', () => {
    assert.equal(bucketIndex([1, 2, 5], 2), 1);
    assert.equal(bucketIndex([1, 2, 5], 2.1), 2);
    assert.equal(bucketIndex([1, 2, 5], 6), 3);
    assert.equal(bucketIndex([1, 2, 5], 0), 0);
  });
});

describe('JobMetricsSeries', () => {
  it('turns consecutive heartbeats into per-second rates, percentiles and mean batch size', async () => {
    const { series, advance, at } = setup();
    const since = at();
    series.ingest('tm-a', [running('j1', 0, stats(since, 0))]);
    advance(1000);
    await series.sample(); // first point: nothing yet
    series.ingest('tm-a', [running('j1', 0, stats(since, 100, { latencyMs: 40, batchSize: 4 }))]);
    series.ingest('tm-a', [running('j1', 0, stats(since, 200, { latencyMs: 40, batchSize: 4 }))]);
    advance(2000);
    await series.sample();
    const m = series.metrics('j1')!;
    assert.equal(m.points.length, 2);
    const [first, second] = m.points;
    assert.equal(first!.requestsPerSec, 0);
    assert.equal(first!.latencyP50Ms, null);
    assert.equal(first!.meanBatchSize, null);
    assert.equal(second!.requestsPerSec, 100, '200 results over 2 s');
    assert.equal(second!.errorsPerSec, 0);
    assert.equal(second!.meanBatchSize, 4);
    // 40 ms falls in the (30, 50] bucket.
    assert.ok(second!.latencyP50Ms! > 30 && second!.latencyP50Ms! <= 50, String(second!.latencyP50Ms));
    assert.ok(second!.latencyP99Ms! >= second!.latencyP50Ms!);
    assert.equal(second!.lag, 7);
    assert.equal(second!.pending, 3);
    assert.deepEqual(m.totals, { requests: 200, errors: 0, errorsByCode: {} });
    assert.deepEqual(series.metrics('j1', first!.at)!.points, [second], 'since leaves out the points at or before it');
  });

  it('counts a subtask that started again (counters went down, or a new since) from zero, never negative', async () => {
    const { series, advance, at } = setup();
    const t0 = at();
    series.ingest('tm-a', [running('j1', 0, stats(t0, 0))]);
    series.ingest('tm-a', [running('j1', 0, stats(t0, 500, { errors: { CS_ERR_BAD_REQUEST: 5 } }))]);
    advance(1000);
    await series.sample();
    // The subtask moved to tm-b and back: tm-a reports a fresh meter with fewer results.
    series.ingest('tm-a', [running('j1', 0, stats(t0, 30, { errors: { CS_ERR_BAD_REQUEST: 1 } }))]);
    advance(1000);
    await series.sample();
    // Same counters but a new since: a restart too.
    series.ingest('tm-a', [running('j1', 0, stats(at(), 40))]);
    advance(1000);
    await series.sample();
    const { points, totals } = series.metrics('j1')!;
    assert.deepEqual(points.map((p) => p.requestsPerSec), [500, 30, 40]);
    assert.deepEqual(points.map((p) => p.errorsPerSec), [5, 1, 0]);
    assert.ok(points.every((p) => p.requestsPerSec >= 0 && p.errorsPerSec >= 0));
    assert.deepEqual(totals, { requests: 570, errors: 6, errorsByCode: { CS_ERR_BAD_REQUEST: 6 } });
  });

  it('adds the subtasks of every TaskManager of a job, and a subtask moving between them', async () => {
    const { series, advance, at } = setup();
    const t0 = at();
    series.ingest('tm-a', [running('j1', 0, stats(t0, 0)), running('j1', 1, stats(t0, 0))]);
    series.ingest('tm-a', [running('j1', 0, stats(t0, 10)), running('j1', 1, stats(t0, 20))]);
    advance(1000);
    await series.sample();
    // Subtask 1 moves to tm-b (a new meter there); tm-a reports only subtask 0.
    series.ingest('tm-a', [running('j1', 0, stats(t0, 15))]);
    series.ingest('tm-b', [running('j1', 1, stats(at(), 8))]);
    advance(1000);
    await series.sample();
    const { points, totals } = series.metrics('j1')!;
    assert.deepEqual(points.map((p) => p.requestsPerSec), [30, 13]);
    assert.equal(totals.requests, 43);
  });

  it('puts what a subtask did before the series started in the totals, not in a rate (a restarted JobManager)', async () => {
    const { series, advance, at } = setup();
    series.ingest('tm-a', [running('j1', 0, stats(at() - 60_000, 10_000))]);
    advance(1000);
    await series.sample();
    series.ingest('tm-a', [running('j1', 0, stats(at() - 61_000, 10_050))]);
    advance(1000);
    await series.sample();
    const { points, totals } = series.metrics('j1')!;
    assert.deepEqual(points.map((p) => p.requestsPerSec), [0, 50]);
    assert.equal(totals.requests, 10_050);
  });

  it('hands every sample to subscribers until they unsubscribe, and keeps points for the retention only', async () => {
    let now = 5_000_000;
    const series = new JobMetricsSeries({ now: () => now, retentionMs: 3000, jobs: async () => [{ id: 'j1', name: 'tiny', state: 'RUNNING' }] });
    const seen: JobMetricsSample[] = [];
    const unsubscribe = series.subscribe((s) => seen.push(s));
    series.subscribe(() => {
      throw new Error('a broken listener is only logged');
    });
    for (let i = 0; i < 5; i++) {
      series.ingest('tm-a', [running('j1', 0, stats(5_000_000, 10 * (i + 1)))]);
      now += 1000;
      await series.sample();
    }
    unsubscribe();
    now += 1000;
    await series.sample();
    assert.equal(seen.length, 5);
    assert.equal(seen[0]!.jobName, 'tiny');
    assert.equal(seen[0]!.jobId, 'j1');
    assert.equal(seen[4]!.totals.requests, 50);
    assert.equal(seen[4]!.point.requestsPerSec, 10);
    assert.deepEqual(series.metrics('j1')!.points.map((p) => p.at), [5_004_000, 5_005_000, 5_006_000], 'points 3 s old or older are dropped');
  });

  it('stops sampling a job that finished, and forgets it once its points are past the retention', async () => {
    let now = 1_000;
    let state: JobState = 'RUNNING';
    const series = new JobMetricsSeries({ now: () => now, retentionMs: 2000, jobs: async () => [{ id: 'j1', name: 'tiny', state }] });
    now += 1000;
    await series.sample();
    state = 'CANCELED';
    now += 1000;
    await series.sample();
    assert.equal(series.metrics('j1')!.points.length, 1, 'no point while canceled');
    now += 5000;
    await series.sample();
    assert.equal(series.metrics('j1'), undefined);
  });

  it('ignores stats whose histogram does not have the shared buckets', async () => {
    const { series, advance } = setup();
    series.ingest('tm-a', [{ jobId: 'j1', subtaskIndex: 0, stats: { since: 1, results: 5, errorsByCode: {}, latencyCounts: [5], batches: 1, batchedRequests: 5 } }]);
    advance(1000);
    await series.sample();
    assert.equal(series.metrics('j1')!.totals.requests, 0);
  });
});
