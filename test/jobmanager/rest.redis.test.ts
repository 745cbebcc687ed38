import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelsDir } from '../../src/models/generate';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody, JobList, JobStatus, TaskManagerList, TopologySource } from '../../src/cluster-api/dto';
import type { JobManager } from '../../jobmanager/main';
import { restCall, RestTaskManager, startTestJobManager, submitTopology, yamlTopology, type RestReply } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const HEARTBEAT_INTERVAL_MS = 100;
const HEARTBEAT_TIMEOUT_MS = 800;

let redisUrl: string;
let cacheDir: string;
let jm: JobManager;

function newJobManager(): Promise<JobManager> {
  return startTestJobManager({ redisUrl, cacheDir, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
}

/** One REST call to the JobManager of this test. */
function call<T>(method: string, path: string, body?: unknown): Promise<RestReply<T>> {
  return restCall<T>(jm.url, method, path, body);
}

function submit(topology: TopologySource): Promise<string> {
  return submitTopology(jm.url, topology);
}

async function status(jobId: string): Promise<JobStatus> {
  const res = await call<JobStatus>('GET', `/jobs/${jobId}`);
  assert.equal(res.status, 200);
  return res.body;
}

describe('JobManager REST API (real Redis)', () => {
  before(async () => {
    redisUrl = await testRedisUrl();
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-jm-test-'));
    jm = await newJobManager();
  });

  after(async () => {
    await jm?.close();
    await rm(cacheDir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('accepts a valid YAML topology: 200 with a job id, listed and CREATED while no TaskManager is there', async () => {
    const name = uniqueName('valid');
    const jobId = await submit(yamlTopology(name));
    assert.match(jobId, /^[0-9a-f]{32}$/);
    const list = await call<JobList>('GET', '/jobs');
    const listed = list.body.jobs.find((j) => j.id === jobId);
    assert.ok(listed, 'the job is listed');
    assert.equal(listed.name, name);
    const job = await status(jobId);
    assert.equal(job.state, 'CREATED');
    assert.equal(job.filename, `${name}.yaml`);
    const topology = await call<TopologySource>('GET', `/jobs/${jobId}/topology`);
    assert.deepEqual(topology.body, yamlTopology(name));
    await call('PATCH', `/jobs/${jobId}?mode=cancel`);
  });

  it('refuses an invalid topology with 400 and every problem listed', async () => {
    const source = ['name: bad name!', 'source:', '  type: redis', '  partitions: 0', 'model:', '  pathh: m.onnx', 'batch:', '  maxSize: -1', ''].join('\n');
    const res = await call<ErrorBody>('POST', '/jobs', { topology: { filename: 'bad.yaml', source, baseDir: '/tmp' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'CS_ERR_TOPOLOGY');
    const problems = res.body.problems ?? [];
    for (const field of ['name', 'source.partitions', 'model.path', 'model.pathh', 'batch.maxSize']) {
      assert.ok(
        problems.some((p) => p.startsWith(`${field}:`)),
        `a problem for ${field} in ${JSON.stringify(problems)}`,
      );
    }
  });

  it('refuses at submit a job that cannot run, with every problem: missing model, kafka source, decode not fitting the model', async () => {
    const missing = ['name: no-model', 'source:', '  type: kafka', '  brokers: [127.0.0.1:9092]', '  topic: t', 'model:', `  path: ${join(tmpdir(), 'cs-no-such-model.onnx')}`, ''].join('\n');
    const res = await call<ErrorBody>('POST', '/jobs', { topology: { filename: 'no-model.yaml', source: missing, baseDir: tmpdir() } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'CS_ERR_TOPOLOGY');
    const problems = res.body.problems ?? [];
    assert.equal(problems.length, 2, JSON.stringify(problems));
    assert.match(problems[0] ?? '', /^source\.type: kafka is not available yet/);
    assert.match(problems[1] ?? '', /^model\.path: .*cs-no-such-model\.onnx: no such file/);
    // The tiny model takes [n, 16] float32: an image decode makes rank-4 tensors it cannot take.
    const image = ['name: image-on-tiny', 'source:', '  type: redis', 'decode:', '  type: image', '  width: 32', '  height: 32', 'model:', `  path: ${join(defaultModelsDir(), 'tiny.onnx')}`, ''].join('\n');
    const unfit = await call<ErrorBody>('POST', '/jobs', { topology: { filename: 'image.yaml', source: image, baseDir: tmpdir() } });
    assert.equal(unfit.status, 400);
    assert.deepEqual(unfit.body.problems?.map((p) => p.split(':')[0]), ['decode.type'], JSON.stringify(unfit.body.problems));
    assert.equal((await call<JobList>('GET', '/jobs')).body.jobs.some((j) => j.name === 'no-model' || j.name === 'image-on-tiny'), false, 'nothing was accepted');
  });

  it('refuses a malformed request body and an unknown job with an ErrorBody', async () => {
    const bad = await call<ErrorBody>('POST', '/jobs', { topology: { filename: 'x.yaml' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'CS_ERR_BAD_REQUEST');
    const missing = await call<ErrorBody>('GET', '/jobs/0123456789abcdef0123456789abcdef');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'CS_ERR_NOT_FOUND');
    const cancelMissing = await call<ErrorBody>('PATCH', '/jobs/nope?mode=cancel');
    assert.equal(cancelMissing.status, 404);
  });

  it('assigns a job to a TaskManager that heartbeats; it is RUNNING once every subtask reports ready; cancel takes it away', async () => {
    const tm = new RestTaskManager(() => jm.url, 2);
    const registered = await tm.register();
    assert.deepEqual(registered, { cluster: 'default', heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
    const name = uniqueName('assigned');
    const jobId = await submit(yamlTopology(name, { parallelism: 2, partitions: 3 }));
    try {
      const beat = await waitFor(
        async () => {
          const r = await tm.heartbeat();
          return r.assignments.filter((a) => a.jobId === jobId).length === 2 ? r : undefined;
        },
        { maxWaitMs: 30_000, what: 'two subtasks assigned' },
      );
      assert.equal(beat.known, true);
      const mine = beat.assignments.filter((a) => a.jobId === jobId).sort((a, b) => a.subtaskIndex - b.subtaskIndex);
      assert.deepEqual(
        mine.map((a) => ({ cluster: a.cluster, jobName: a.jobName, subtaskIndex: a.subtaskIndex, splits: a.splits })),
        [
          { cluster: 'default', jobName: name, subtaskIndex: 0, splits: [`${name}:0`, `${name}:2`] },
          { cluster: 'default', jobName: name, subtaskIndex: 1, splits: [`${name}:1`] },
        ],
      );
      const assigned = await status(jobId);
      assert.equal(assigned.state, 'CREATED', 'assigned is not ready: no subtask has loaded its model yet');
      assert.match(assigned.starting ?? '', /subtask 0 is starting on /);
      const epochOf = (index: number) => mine.find((a) => a.subtaskIndex === index)?.epoch;
      // One subtask ready is not enough.
      await tm.heartbeat([{ jobId, subtaskIndex: 0, epoch: epochOf(0), ready: true }, { jobId, subtaskIndex: 1, epoch: epochOf(1) }]);
      assert.equal((await status(jobId)).state, 'CREATED');
      // A report about another epoch (an earlier assignment) does not count.
      await tm.heartbeat([{ jobId, subtaskIndex: 0, epoch: epochOf(0), ready: true }, { jobId, subtaskIndex: 1, epoch: (epochOf(1) ?? 0) + 7, ready: true }]);
      assert.equal((await status(jobId)).state, 'CREATED');
      await tm.heartbeat([{ jobId, subtaskIndex: 0, epoch: epochOf(0), ready: true }, { jobId, subtaskIndex: 1, epoch: epochOf(1), ready: true }]);
      const job = await waitFor(async () => {
        const s = await status(jobId);
        return s.state === 'RUNNING' ? s : undefined;
      }, { maxWaitMs: 30_000, what: 'RUNNING once both subtasks are ready' });
      assert.equal(job.starting, undefined);
      assert.deepEqual(
        job.subtasks.map((s) => s.taskManagerId),
        [tm.id, tm.id],
      );
      const tms = await call<TaskManagerList>('GET', '/taskmanagers');
      const info = tms.body.taskmanagers.find((t) => t.id === tm.id);
      assert.ok(info);
      assert.equal(info.slots, 2);
      assert.equal(info.freeSlots, 0);
      assert.deepEqual(info.subtasks.map((s) => s.subtaskIndex).sort(), [0, 1]);

      const canceled = await call<JobStatus>('PATCH', `/jobs/${jobId}?mode=cancel`);
      assert.equal(canceled.status, 200);
      assert.equal(canceled.body.state, 'CANCELED');
      const after = await tm.heartbeat([
        { jobId, subtaskIndex: 0 },
        { jobId, subtaskIndex: 1 },
      ]);
      assert.deepEqual(
        after.assignments.filter((a) => a.jobId === jobId),
        [],
      );
      const again = await call<JobStatus>('DELETE', `/jobs/${jobId}`);
      assert.equal(again.body.state, 'CANCELED', 'cancel is idempotent');
    } finally {
      await call('PATCH', `/jobs/${jobId}?mode=cancel`);
      await tm.deregister();
    }
  });

  it('moves the subtasks of a TaskManager that stops heartbeating to another one', async () => {
    const silent = new RestTaskManager(() => jm.url, 1);
    await silent.register();
    const jobId = await submit(yamlTopology(uniqueName('failover')));
    const survivor = new RestTaskManager(() => jm.url, 1);
    try {
      await waitFor(async () => (await silent.heartbeat()).assignments.some((a) => a.jobId === jobId), { maxWaitMs: 30_000, what: 'first assignment' });
      await survivor.register();
      // `silent` stops heartbeating now; `survivor` keeps going and gets the subtask after the timeout
      const moved = await waitFor(async () => (await survivor.heartbeat()).assignments.find((a) => a.jobId === jobId), {
        maxWaitMs: HEARTBEAT_TIMEOUT_MS * 10,
        what: 'the subtask to move',
      });
      assert.equal(moved.subtaskIndex, 0);
      assert.equal((await status(jobId)).subtasks[0]?.taskManagerId, survivor.id);
      const late = await silent.heartbeat();
      assert.equal(late.known, false, 'an expired TaskManager must register again');
      assert.deepEqual(late.assignments, []);
    } finally {
      await call('PATCH', `/jobs/${jobId}?mode=cancel`);
      await survivor.deregister();
      await silent.deregister();
    }
  });

  it('fails a job whose subtask a TaskManager reports failed', async () => {
    const tm = new RestTaskManager(() => jm.url, 1);
    await tm.register();
    const jobId = await submit(yamlTopology(uniqueName('failing')));
    try {
      await waitFor(async () => (await tm.heartbeat()).assignments.some((a) => a.jobId === jobId), { maxWaitMs: 30_000, what: 'assignment' });
      const beat = await tm.heartbeat([{ jobId, subtaskIndex: 0, failure: 'model file not found: /srv/model.onnx', failureCode: 'CS_ERR_MODEL_LOAD' }]);
      assert.deepEqual(
        beat.assignments.filter((a) => a.jobId === jobId),
        [],
      );
      const job = await status(jobId);
      assert.equal(job.state, 'FAILED');
      assert.match(job.failure ?? '', /subtask 0 on .*model file not found/);
      assert.equal(job.failureCode, 'CS_ERR_MODEL_LOAD', 'the failure keeps its own code');
    } finally {
      await tm.deregister();
    }
  });

  it('forgets a deregistered TaskManager: its next heartbeat is answered known: false', async () => {
    const tm = new RestTaskManager(() => jm.url, 1);
    await tm.register();
    const res = await call('DELETE', `/taskmanagers/${tm.id}`);
    assert.equal(res.status, 204);
    assert.equal((await tm.heartbeat()).known, false);
    const missing = await call<ErrorBody>('DELETE', `/taskmanagers/${tm.id}`);
    assert.equal(missing.status, 404);
  });

  it('carries on after a restart: jobs, TaskManagers and assignments come back from Redis', async () => {
    const tm = new RestTaskManager(() => jm.url, 1);
    await tm.register();
    const jobId = await submit(yamlTopology(uniqueName('restart')));
    try {
      await waitFor(async () => (await tm.heartbeatReady()).assignments.some((a) => a.jobId === jobId), { maxWaitMs: 30_000, what: 'assignment' });
      await waitFor(async () => (await tm.heartbeatReady(), (await status(jobId)).state === 'RUNNING'), { maxWaitMs: 30_000, what: 'RUNNING' });
      await jm.close();
      jm = await newJobManager();
      const beat = await tm.heartbeatReady();
      assert.equal(beat.known, true);
      assert.deepEqual(
        beat.assignments.filter((a) => a.jobId === jobId).map((a) => a.subtaskIndex),
        [0],
      );
      const job = await status(jobId);
      assert.equal(job.state, 'RUNNING');
      assert.equal(job.subtasks[0]?.taskManagerId, tm.id);
    } finally {
      await call('PATCH', `/jobs/${jobId}?mode=cancel`);
      await tm.deregister();
    }
  });
});
