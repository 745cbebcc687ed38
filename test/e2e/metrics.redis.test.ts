import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthReport, JobMetrics, PrometheusTargetGroup } from '../../src/cluster-api/dto';
import { tensorFrom } from '../../src/tensor/tensor';
import { LoadGenerator } from '../support/load-generator';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput, tinyTopology, useE2eCluster } from './e2e-helpers';
import { promSum } from '../support/prometheus-text';

const ctx = useE2eCluster('metrics');

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200, `${url}: ${response.status}`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return response.text();
}

/**
 * A job on a real cluster (`cs jobmanager start`, `cs taskmanager start`) under load: the TaskManager's
 * `/metrics` counts exactly the requests sent (read, results, errors by code) and fills its histograms;
 * the JobManager's `/metrics` and `GET /jobs/:id/metrics` show the same totals from the heartbeats, and a
 * throughput above zero while the load runs. Health probes answer on both process kinds, and the
 * JobManager lists the TaskManager's metrics endpoint for Prometheus.
 */
test('metrics move with the load on the TaskManager and the JobManager', async () => {
  await ctx.cluster.startTaskManager('tm-metrics', 1);
  const jm = ctx.cluster.url;
  const tm = (await ctx.cluster.client.listTaskManagers()).taskmanagers.find((t) => t.id === 'tm-metrics')!;
  assert.match(tm.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the TaskManager registered its metrics URL');
  const tmBase = tm.metricsUrl!.replace(/\/metrics$/, '');

  // Health: both processes alive; the JobManager ready; the idle, registered TaskManager ready.
  assert.deepEqual(await getJson<HealthReport>(`${jm}/healthz`), { status: 200, body: { ok: true, reasons: [] } });
  assert.deepEqual(await getJson<HealthReport>(`${jm}/readyz`), { status: 200, body: { ok: true, reasons: [] } });
  assert.deepEqual(await getJson<HealthReport>(`${tmBase}/healthz`), { status: 200, body: { ok: true, reasons: [] } });
  assert.deepEqual(await getJson<HealthReport>(`${tmBase}/readyz`), { status: 200, body: { ok: true, reasons: [] } });
  assert.equal((await fetch(`${tmBase}/nothing`)).status, 404);

  // Prometheus service discovery lists the TaskManager's endpoint.
  const targets = await getJson<PrometheusTargetGroup[]>(`${jm}/prometheus/targets`);
  assert.equal(targets.status, 200);
  const group = targets.body.find((g) => g.labels.taskmanager === 'tm-metrics');
  assert.deepEqual(group, { targets: [new URL(tm.metricsUrl!).host], labels: { __metrics_path__: '/metrics', __scheme__: 'http', taskmanager: 'tm-metrics' } });

  const name = uniqueName('metrics');
  const { jobId } = await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, name, 2, 1));
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId === 'tm-metrics'), { maxWaitMs: 30_000, what: 'subtask on tm-metrics' });
  // Once the job is RUNNING (its subtask loaded the model and reads), the TaskManager's /readyz agrees.
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 60_000, what: 'job RUNNING' });
  await waitFor(async () => (await getJson<HealthReport>(`${tmBase}/readyz`)).status === 200, { maxWaitMs: 30_000, what: 'TaskManager /readyz 200 with a running subtask' });
  const jmBefore = await scrape(`${jm}/metrics`);
  const tmBefore = await scrape(`${tmBase}/metrics`);
  const job = { job: name };

  const gen = new LoadGenerator(ctx.redis, name, 2, tinyInput);
  // Requests whose input has the wrong shape: answered with a CS_ERR_SHAPE error result each (check-inputs).
  const bad = new LoadGenerator(ctx.redis, name, 2, () => new Map([['input', tensorFrom(new Float32Array(7), [1, 7])]]));
  try {
    // Load until the live figures show a throughput above zero.
    let live: JobMetrics | undefined;
    await gen.runUntil(
      100,
      async () => {
        live = await ctx.cluster.client.jobMetrics(jobId);
        return live.points.some((p) => p.requestsPerSec > 0);
      },
      { maxWaitMs: 60_000, what: 'a point with requestsPerSec > 0' },
    );
    await gen.run(100, 1);
    await bad.run(50, 1);
    await waitFor(() => gen.missing().length === 0 && bad.missing().length === 0, { maxWaitMs: 60_000, what: 'every request answered' });
    const good = gen.sent.size;
    const errors = bad.sent.size;
    const sent = good + errors;
    assert.deepEqual([...new Set([...bad.replies.values()].map((l) => l[0]!.result.error?.code))], ['CS_ERR_SHAPE'], 'bad requests get CS_ERR_SHAPE');

    // The TaskManager counted every request once; the histograms hold one value per result (or batch).
    const tmAfter = await waitFor(
      async () => {
        const text = await scrape(`${tmBase}/metrics`);
        return promSum(text, 'cs_results_total', job) === sent ? text : undefined;
      },
      { maxWaitMs: 30_000, what: `cs_results_total = ${sent}` },
    );
    assert.equal(promSum(tmBefore, 'cs_results_total', job), 0);
    assert.equal(promSum(tmAfter, 'cs_requests_read_total', job), sent);
    assert.equal(promSum(tmAfter, 'cs_requests_read_total', { ...job, split: `${name}:0` }) + promSum(tmAfter, 'cs_requests_read_total', { ...job, split: `${name}:1` }), sent, 'counted per split');
    assert.equal(promSum(tmAfter, 'cs_error_results_total', { ...job, code: 'CS_ERR_SHAPE' }), errors);
    assert.equal(promSum(tmAfter, 'cs_request_latency_seconds_count', job), sent);
    assert.equal(promSum(tmAfter, 'cs_request_latency_seconds_bucket', { ...job, le: '+Inf' }), sent);
    assert.equal(promSum(tmAfter, 'cs_request_latency_seconds_bucket', { ...job, le: '60' }), sent, 'every latency under a minute');
    assert.ok(promSum(tmAfter, 'cs_request_latency_seconds_sum', job) > 0);
    const batches = promSum(tmAfter, 'cs_batch_size_count', job);
    assert.ok(batches >= 1 && batches <= good, `${batches} batches`);
    assert.equal(promSum(tmAfter, 'cs_batch_size_sum', job), good, 'only good requests reach the model');
    assert.equal(promSum(tmAfter, 'cs_inference_duration_seconds_count', job), batches);
    assert.ok(promSum(tmAfter, 'cs_model_load_seconds', job) > 0);
    assert.equal(promSum(tmAfter, 'cs_inflight_requests', job), 0);
    assert.equal(promSum(tmAfter, 'cs_split_pending', job), 0);
    assert.equal(promSum(tmAfter, 'cs_taskmanager_subtasks', { taskmanager: 'tm-metrics' }), 1);
    assert.ok(promSum(tmAfter, 'process_cpu_seconds_total', {}) > 0, 'process figures are served too');

    // The JobManager has the same totals from the heartbeats.
    const totals = await waitFor(
      async () => {
        const m = await ctx.cluster.client.jobMetrics(jobId);
        return m.totals.requests === sent ? m : undefined;
      },
      { maxWaitMs: 30_000, what: `job totals = ${sent}` },
    );
    assert.deepEqual(totals.totals, { requests: sent, errors, errorsByCode: { CS_ERR_SHAPE: errors } });
    assert.equal(totals.intervalMs, 1000);
    const served = totals.points.filter((p) => p.requestsPerSec > 0);
    assert.ok(served.length > 0);
    assert.ok(served.some((p) => p.latencyP50Ms !== null && p.latencyP99Ms! >= p.latencyP50Ms && p.meanBatchSize !== null && p.meanBatchSize >= 1));
    const last = totals.points[totals.points.length - 1]!;
    const since = await ctx.cluster.client.jobMetrics(jobId, last.at);
    assert.ok(since.points.every((p) => p.at > last.at), '?since= leaves out older points');

    const jmAfter = await waitFor(
      async () => {
        const text = await scrape(`${jm}/metrics`);
        return promSum(text, 'cs_job_results_total', { job_id: jobId }) === sent ? text : undefined;
      },
      { maxWaitMs: 30_000, what: 'cs_job_results_total on the JobManager' },
    );
    assert.equal(promSum(jmAfter, 'cs_job_error_results_total', { job_id: jobId, code: 'CS_ERR_SHAPE' }), errors);
    assert.ok(promSum(jmAfter, 'cs_heartbeats_total', { taskmanager: 'tm-metrics', known: 'true' }) > promSum(jmBefore, 'cs_heartbeats_total', { taskmanager: 'tm-metrics', known: 'true' }), 'heartbeats counted');
    assert.ok(promSum(jmAfter, 'cs_http_requests_total', { method: 'GET', route: '/jobs/:jobId/metrics', status: '200' }) >= 2, 'REST requests counted by route');
    assert.equal(promSum(jmAfter, 'cs_jobs', { state: 'RUNNING' }) + promSum(jmAfter, 'cs_jobs', { state: 'CREATED' }), 1);
    assert.equal(promSum(jmAfter, 'cs_taskmanagers', {}), 1);
    assert.equal(promSum(jmAfter, 'cs_slots_total', {}), 1);
    assert.equal(promSum(jmAfter, 'cs_slots_free', {}), 0);
  } finally {
    await gen.close();
    await bad.close();
  }
});

test('GET /jobs/:id/metrics: 404 for an unknown job, 400 for a bad since', async () => {
  const unknown = await fetch(`${ctx.cluster.url}/jobs/${'f'.repeat(32)}/metrics`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { code: string }).code, 'CS_ERR_NOT_FOUND');
  const badSince = await fetch(`${ctx.cluster.url}/jobs/${'f'.repeat(32)}/metrics?since=yesterday`);
  assert.equal(badSince.status, 400);
});
