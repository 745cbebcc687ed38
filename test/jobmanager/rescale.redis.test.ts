import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody, JobStatus, SubtaskAssignment, TopologySource } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { ClusterServingError } from '../../src/errors';
import type { JobManager } from '../../jobmanager/main';
import { restCall, RestTaskManager, startTestJobManager, submitTopology, yamlTopology, type RestReply } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

let redisUrl: string;
let cacheDir: string;
let jm: JobManager;

function newJobManager(): Promise<JobManager> {
  return startTestJobManager({ redisUrl, cacheDir });
}

/** One REST call to the JobManager of this test. */
function call<T>(method: string, path: string, body?: unknown): Promise<RestReply<T>> {
  return restCall<T>(jm.url, method, path, body);
}

function submit(topology: TopologySource): Promise<string> {
  return submitTopology(jm.url, topology);
}

/** What the JobManager tells `tm` to run of `jobId`, by subtask (a heartbeat reporting nothing running). */
async function assignmentsOf(tm: RestTaskManager, jobId: string): Promise<SubtaskAssignment[]> {
  return (await tm.heartbeat([])).assignments.filter((a) => a.jobId === jobId).sort((a, b) => a.subtaskIndex - b.subtaskIndex);
}

describe('PATCH /jobs/:jobId/rescaling (real Redis)', () => {
  before(async () => {
    redisUrl = await testRedisUrl();
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-rescale-test-'));
    jm = await newJobManager();
  });

  after(async () => {
    await jm?.close();
    await rm(cacheDir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('re-spreads a running job over the new parallelism, keeps remaining subtasks in place and leaves other jobs alone', async () => {
    const tm = new RestTaskManager(() => jm.url, 4, 'tm-rescale');
    await tm.register();
    const name = uniqueName('scaled');
    const otherId = await submit(yamlTopology(uniqueName('bystander'), { parallelism: 1 }));
    const jobId = await submit(yamlTopology(name, { parallelism: 1, partitions: 3 }));
    const client = new JobManagerClient(jm.url);
    try {
      // The TaskManager reports what it was assigned as ready: a job is RUNNING once every subtask is.
      await waitFor(async () => (await tm.heartbeatReady(), (await client.jobStatus(jobId)).state === 'RUNNING' && (await client.jobStatus(otherId)).state === 'RUNNING'), { maxWaitMs: 30_000, what: 'both jobs RUNNING' });
      const otherBefore = (await client.jobStatus(otherId)).subtasks;
      assert.deepEqual(
        (await assignmentsOf(tm, jobId)).map((a) => a.splits),
        [[`${name}:0`, `${name}:1`, `${name}:2`]],
      );

      const up = await call<JobStatus>('PATCH', `/jobs/${jobId}/rescaling?parallelism=3`);
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.equal(up.body.parallelism, 3);
      assert.equal(up.body.state, 'RUNNING', 'stays RUNNING while subtask 0 serves and the new ones start');
      assert.match(up.body.starting ?? '', /subtask 1 is starting on .*subtask 2 is starting on /);
      assert.deepEqual(
        up.body.subtasks.map((s) => ({ index: s.index, taskManagerId: s.taskManagerId, splits: s.splits })),
        [0, 1, 2].map((i) => ({ index: i, taskManagerId: tm.id, splits: [`${name}:${i}`] })),
      );
      assert.deepEqual(
        (await assignmentsOf(tm, jobId)).map((a) => [a.subtaskIndex, a.splits]),
        [0, 1, 2].map((i) => [i, [`${name}:${i}`]]),
      );
      assert.equal((await client.listJobs()).jobs.find((j) => j.id === jobId)?.parallelism, 3);

      const down = await client.rescaleJob(jobId, 2);
      assert.equal(down.parallelism, 2);
      assert.deepEqual(
        (await assignmentsOf(tm, jobId)).map((a) => [a.subtaskIndex, a.splits]),
        [
          [0, [`${name}:0`, `${name}:2`]],
          [1, [`${name}:1`]],
        ],
      );
      const same = await client.rescaleJob(jobId, 2);
      assert.deepEqual(same.subtasks, down.subtasks, 'the same parallelism changes nothing');
      assert.deepEqual((await client.jobStatus(otherId)).subtasks, otherBefore, 'the other job kept its assignment');

      // The new parallelism is in Redis: a restarted JobManager keeps it.
      await jm.close();
      jm = await newJobManager();
      const restarted = await new JobManagerClient(jm.url).jobStatus(jobId);
      assert.equal(restarted.parallelism, 2);
      assert.equal(restarted.subtasks.length, 2);
    } finally {
      await call('PATCH', `/jobs/${jobId}?mode=cancel`);
      await call('PATCH', `/jobs/${otherId}?mode=cancel`);
      await tm.deregister();
    }
  });

  it('refuses a parallelism outside 1..1024 or not an integer with 400 and a clear message', async () => {
    const jobId = await submit(yamlTopology(uniqueName('bad-parallelism')));
    try {
      for (const query of ['', '?parallelism=', '?parallelism=0', '?parallelism=1025', '?parallelism=-1', '?parallelism=1.5', '?parallelism=two', '?parallelism=1&parallelism=2']) {
        const res = await call<ErrorBody>('PATCH', `/jobs/${jobId}/rescaling${query}`);
        assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'CS_ERR_BAD_REQUEST');
        assert.match(res.body.message, /parallelism must be an integer from 1 to 1024/);
      }
      const edge = await call<JobStatus>('PATCH', `/jobs/${jobId}/rescaling?parallelism=1024`);
      assert.equal(edge.status, 200, JSON.stringify(edge.body));
      assert.equal(edge.body.parallelism, 1024);
      assert.equal(edge.body.subtasks.length, 1024);
    } finally {
      await call('PATCH', `/jobs/${jobId}?mode=cancel`);
    }
  });

  it('answers 404 for an unknown job and 409 for a canceled or failed one', async () => {
    const missing = await call<ErrorBody>('PATCH', `/jobs/${'0'.repeat(32)}/rescaling?parallelism=2`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'CS_ERR_NOT_FOUND');

    const canceledId = await submit(yamlTopology(uniqueName('canceled')));
    await call('PATCH', `/jobs/${canceledId}?mode=cancel`);
    const canceled = await call<ErrorBody>('PATCH', `/jobs/${canceledId}/rescaling?parallelism=2`);
    assert.equal(canceled.status, 409);
    assert.equal(canceled.body.code, 'CS_ERR_BAD_REQUEST');
    assert.match(canceled.body.message, /is CANCELED: only a CREATED or RUNNING job can be rescaled/);
    assert.equal((await new JobManagerClient(jm.url).jobStatus(canceledId)).parallelism, 1, 'unchanged');

    const tm = new RestTaskManager(() => jm.url, 1, 'tm-rescale');
    await tm.register();
    const failedId = await submit(yamlTopology(uniqueName('failed')));
    try {
      await waitFor(async () => (await assignmentsOf(tm, failedId)).length === 1, { what: 'assignment' });
      await call('POST', `/taskmanagers/${tm.id}/heartbeat`, { running: [{ jobId: failedId, subtaskIndex: 0, failure: 'model file not found' }] });
      await assert.rejects(
        new JobManagerClient(jm.url).rescaleJob(failedId, 2),
        (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_BAD_REQUEST' && /is FAILED/.test(err.message),
      );
    } finally {
      await tm.deregister();
    }
  });
});
