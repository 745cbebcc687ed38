import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HealthReport, RunningSubtask } from '../../src/cluster-api/dto';
import { freePort } from '../../src/embedded/free-port';
import { createLogger } from '../../src/logging/logger';
import { startJobManager, type JobManager } from '../../jobmanager/main';
import { TaskManager } from '../../taskmanager/main';
import { taskManagerReadiness } from '../../taskmanager/readiness';
import { TEST_MODEL_DIRS } from '../support/jobmanager';
import { promSum } from '../support/prometheus-text';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

describe('taskManagerReadiness', () => {
  const ready: RunningSubtask = { jobId: 'j', subtaskIndex: 0, ready: true };
  it('is ready when registered and every assigned subtask reports ready', () => {
    assert.deepEqual(taskManagerReadiness(true, []), { ok: true, reasons: [] });
    assert.deepEqual(taskManagerReadiness(true, [ready, { ...ready, subtaskIndex: 1 }]), { ok: true, reasons: [] });
  });

  it('lists why not: unregistered, a subtask not (yet) ready, failed, or unable to read', () => {
    const report = taskManagerReadiness(false, [
      ready,
      { jobId: 'j', subtaskIndex: 1 },
      { jobId: 'j', subtaskIndex: 2, ready: false, readProblem: 'Redis down' },
      { jobId: 'k', subtaskIndex: 0, failure: 'model missing' },
    ]);
    assert.equal(report.ok, false);
    assert.deepEqual(report.reasons, ['not registered with the JobManager', 'subtask 1 of job j not ready yet', 'subtask 2 of job j not ready: Redis down', 'subtask 0 of job k failed: model missing']);
  });
});

describe('JobManager and TaskManager probes and /metrics access', () => {
  let redisUrl: string;
  let dir: string;
  let jm: JobManager;
  const token = randomBytes(16).toString('hex');

  before(async () => {
    redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-observability-'));
    jm = await startJobManager({ redisUrl, host: '127.0.0.1', port: 0, cacheDir: dir, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, token, modelDirs: TEST_MODEL_DIRS, logger: createLogger('jobmanager', LOG_LEVEL) });
  });

  after(async () => {
    await jm?.close();
    await stopTestRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves /metrics and /prometheus/targets with the token only; /healthz and /readyz to anyone', async () => {
    for (const path of ['/metrics', '/prometheus/targets']) {
      const refused = await fetch(`${jm.url}${path}`);
      assert.equal(refused.status, 401, path);
      assert.equal(((await refused.json()) as { code: string }).code, 'CS_ERR_UNAUTHENTICATED');
      const allowed = await fetch(`${jm.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(allowed.status, 200, path);
    }
    const text = await (await fetch(`${jm.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.equal(promSum(text, 'cs_taskmanagers', {}), 0);
    assert.ok(text.includes('# TYPE cs_http_requests_total counter'));
    for (const path of ['/healthz', '/readyz']) {
      const open = await fetch(`${jm.url}${path}`);
      assert.equal(open.status, 200, path);
      assert.deepEqual((await open.json()) as HealthReport, { ok: true, reasons: [] });
    }
  });

  it('a TaskManager answers /healthz and a 503 /readyz until it is registered, then 200', async () => {
    // The TaskManager starts against a JobManager port where nothing listens yet.
    const port = await freePort();
    const jmUrl = `http://127.0.0.1:${port}`;
    const metricsPort = await freePort();
    const tm = new TaskManager({ jobmanagerUrl: jmUrl, redisUrl, slots: 1, cacheDir: join(dir, 'tm'), token, metricsPort, taskManagerId: 'tm-probe', registrationBackoff: { initialMs: 50, maxMs: 200 }, logger: createLogger('taskmanager', LOG_LEVEL) });
    const starting = tm.start();
    let second: JobManager | undefined;
    try {
      const base = `http://127.0.0.1:${metricsPort}`;
      const early = await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined)) ?? undefined, { maxWaitMs: 30_000, what: 'the TaskManager metrics server' });
      assert.equal(early.status, 503);
      assert.deepEqual((await early.json()) as HealthReport, { ok: false, reasons: ['not registered with the JobManager'] });
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      second = await startJobManager({ redisUrl, host: '127.0.0.1', port, cacheDir: join(dir, 'jm2'), heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2000, token, cluster: 'probe', logger: createLogger('jobmanager', LOG_LEVEL) });
      await starting;
      assert.equal(tm.metricsUrl, `${base}/metrics`);
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.equal(promSum(text, 'cs_taskmanager_slots', { taskmanager: 'tm-probe' }), 1);
      const listed = await (await fetch(`${jmUrl}/taskmanagers`, { headers: { authorization: `Bearer ${token}` } })).json() as { taskmanagers: { id: string; metricsUrl?: string }[] };
      assert.equal(listed.taskmanagers.find((t) => t.id === 'tm-probe')?.metricsUrl, `${base}/metrics`);
    } finally {
      await tm.close({ force: true });
      await second?.close();
    }
    // Closed: the metrics server is gone with it.
    await assert.rejects(fetch(`http://127.0.0.1:${metricsPort}/healthz`));
  });
});
