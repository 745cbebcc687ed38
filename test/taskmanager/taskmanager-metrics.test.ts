import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SubtaskMeter, entryIdMs } from '../../src/metrics/subtask-meter';
import { LATENCY_BUCKETS_MS } from '../../src/metrics/buckets';
import { TaskManagerMetrics } from '../../taskmanager/taskmanager-metrics';
import { parsePromText, promSum } from '../support/prometheus-text';

/** A meter that read and answered `n` entries of `split`, each `latencyMs` old, in batches of `batch`. */
function served(meter: SubtaskMeter, split: string, n: number, latencyMs: number, batch = 4, now = 1_700_000_000_000): SubtaskMeter {
  for (let i = 0; i < n; i++) {
    meter.read(split);
    meter.result(split, `${now - latencyMs}-${i}`, i % 10 === 0 ? 'CS_ERR_SHAPE' : undefined, now);
  }
  for (let i = 0; i < n; i += batch) meter.batch(Math.min(batch, n - i), 3);
  return meter;
}

describe('SubtaskMeter', () => {
  it('takes the latency from the entry id and sends cumulative stats', () => {
    assert.equal(entryIdMs('1700000000123-7'), 1_700_000_000_123);
    const meter = served(new SubtaskMeter({ job: 'tiny', jobId: 'j', subtaskIndex: 0, now: 5 }), 'tiny:0', 20, 40);
    const stats = meter.stats();
    assert.equal(stats.since, 5);
    assert.equal(stats.results, 20);
    assert.deepEqual(stats.errorsByCode, { CS_ERR_SHAPE: 2 });
    assert.equal(stats.latencyCounts.length, LATENCY_BUCKETS_MS.length + 1);
    assert.equal(stats.latencyCounts[LATENCY_BUCKETS_MS.indexOf(50)], 20, '40 ms falls in the (30, 50] bucket');
    assert.equal(stats.batches, 5);
    assert.equal(stats.batchedRequests, 20);
  });
});

describe('TaskManagerMetrics', () => {
  it('exports the meters as Prometheus counters and histograms, keeping the counts of subtasks that are gone', async () => {
    const metrics = new TaskManagerMetrics('tm-1', 2);
    const first = served(new SubtaskMeter({ job: 'tiny', jobId: 'j', subtaskIndex: 0 }), 'tiny:0', 30, 4);
    const second = served(new SubtaskMeter({ job: 'tiny', jobId: 'j', subtaskIndex: 1 }), 'tiny:1', 10, 400);
    metrics.track(first);
    metrics.track(second);
    const before = await metrics.metrics();
    assert.equal(promSum(before, 'cs_results_total', { job: 'tiny', taskmanager: 'tm-1' }), 40);
    assert.equal(promSum(before, 'cs_results_total', { job: 'tiny', split: 'tiny:1' }), 10);
    assert.equal(promSum(before, 'cs_taskmanager_subtasks', {}), 2);

    // Subtask 1 moves away: its counts stay; a fresh meter for it elsewhere would count on from zero.
    metrics.retire(second);
    metrics.retire(second);
    served(first, 'tiny:0', 10, 4);
    const after = await metrics.metrics();
    assert.equal(promSum(after, 'cs_results_total', { job: 'tiny' }), 50, 'never lower than before');
    assert.equal(promSum(after, 'cs_requests_read_total', { job: 'tiny' }), 50);
    assert.equal(promSum(after, 'cs_error_results_total', { job: 'tiny', code: 'CS_ERR_SHAPE' }), 3 + 1 + 1);
    assert.equal(promSum(after, 'cs_taskmanager_subtasks', {}), 1);

    // Histograms: cumulative buckets in seconds, +Inf = count, sum in seconds.
    const buckets = parsePromText(after).filter((s) => s.name === 'cs_request_latency_seconds_bucket' && s.labels.job === 'tiny');
    assert.equal(buckets.length, LATENCY_BUCKETS_MS.length + 1);
    assert.equal(buckets.find((b) => b.labels.le === '0.005')!.value, 40, 'the 4 ms results');
    assert.equal(buckets.find((b) => b.labels.le === '0.3')!.value, 40);
    assert.equal(buckets.find((b) => b.labels.le === '0.5')!.value, 50, 'the 400 ms ones');
    assert.equal(buckets.find((b) => b.labels.le === '+Inf')!.value, 50);
    assert.equal(promSum(after, 'cs_request_latency_seconds_count', { job: 'tiny' }), 50);
    assert.ok(Math.abs(promSum(after, 'cs_request_latency_seconds_sum', { job: 'tiny' }) - (40 * 0.004 + 10 * 0.4)) < 1e-9);
    assert.equal(promSum(after, 'cs_batch_size_sum', { job: 'tiny' }), 50);
    assert.equal(promSum(after, 'cs_batch_size_count', { job: 'tiny' }), 8 + 3 + 3);
    assert.equal(promSum(after, 'cs_inference_duration_seconds_count', { job: 'tiny' }), 14);
    assert.match(after, /# TYPE cs_request_latency_seconds histogram/);
    assert.match(after, /# TYPE cs_results_total counter/);
  });

  it('keeps each instance’s figures apart (registries per component, not the global one)', async () => {
    const a = new TaskManagerMetrics('tm-a', 1);
    const b = new TaskManagerMetrics('tm-b', 3);
    a.track(served(new SubtaskMeter({ job: 'tiny', jobId: 'j', subtaskIndex: 0 }), 'tiny:0', 5, 1));
    const [textA, textB] = await Promise.all([a.metrics(), b.metrics()]);
    assert.equal(promSum(textA, 'cs_results_total', {}), 5);
    assert.equal(promSum(textB, 'cs_results_total', {}), 0);
    assert.equal(promSum(textB, 'cs_taskmanager_slots', { taskmanager: 'tm-b' }), 3);
    assert.equal(promSum(textA, 'cs_taskmanager_slots', { taskmanager: 'tm-b' }), 0);
  });
});
