import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { jobsKey, taskManagersKey } from '../../src/cluster-api/keys';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray } from '../../src/tensor/tensor';
import { TestCluster } from '../support/cluster-processes';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName, waitFor } from '../support/wait-for';
import { hasStackTrace, lines, spawnCs } from './run-cs';

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function input(seed: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, i) => Math.cos(seed * 5 + i));
}

describe('two clusters on one Redis (cluster namespaces, real processes)', () => {
  let dir: string;
  let redisUrl: string;
  let redis: Redis;
  let tiny: string;
  let cluster: TestCluster | undefined;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-two-clusters-'));
    redisUrl = await testRedisUrl();
    redis = new Redis(redisUrl);
    tiny = (await testModels()).tiny;
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await cluster?.stop();
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  async function topologyFile(name: string, stream?: string): Promise<string> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, [`name: ${name}`, 'source:', '  type: redis', ...(stream ? [`  stream: ${stream}`] : []), 'model:', `  path: ${tiny}`, 'batch:', '  maxDelayMs: 1', ''].join('\n'));
    return file;
  }

  /** `cs start FILE` with no cluster name given. */
  function csStart(file: string): Running {
    const child = spawnCs(['start', file, '--port', '0', '--redis', redisUrl, '--cache-dir', join(dir, 'cache'), '--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '2000']);
    children.push(child);
    const running: Running = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
    child.stdout?.on('data', (d: Buffer) => (running.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (running.stderr += d.toString()));
    return running;
  }

  async function runningStart(file: string): Promise<{ cs: Running; client: JobManagerClient; jobId: string }> {
    const cs = csStart(file);
    await waitFor(() => cs.stdout.includes('ready;') || cs.child.exitCode !== null, { maxWaitMs: 60_000, what: `cs start ${file} to be running` });
    assert.equal(cs.child.exitCode, null, cs.stderr);
    const out = lines(cs.stdout);
    const jobId = /^job\s+([0-9a-f]{32})\b/.exec(out[0] ?? '')?.[1];
    const restUrl = /^REST\s+(http:\/\/\S+)$/.exec(out[2] ?? '')?.[1];
    assert.ok(jobId && restUrl, cs.stdout);
    return { cs, client: new JobManagerClient(restUrl), jobId };
  }

  async function serves(stream: string, seed: number): Promise<void> {
    const q = new InputQueue({ redis: redisUrl, stream });
    try {
      const outputs = await q.predict({ input: { data: input(seed), shape: [1, 16] } }, { timeoutMs: 60_000 });
      const got = toTypedArray(outputs.get('output')!) as Float32Array;
      tinyReference(input(seed), 1).forEach((v, j) => assert.ok(Math.abs(v - got[j]!) < 1e-5, `${stream} answered correctly`));
    } finally {
      await q.close();
    }
  }

  it('a JobManager cluster and two `cs start` clusters all serve, each on its own TaskManagers and keys; a stream another live cluster reads is refused', async () => {
    // A standing cluster (`cs jobmanager start` + `cs taskmanager start`, cluster "default") with a job.
    cluster = await TestCluster.start(redisUrl, join(dir, 'standing'));
    await cluster.startTaskManager('tm-standing', 2);
    const a = uniqueName('a');
    const source = [`name: ${a}`, 'source:', '  type: redis', 'model:', `  path: ${tiny}`, 'batch:', '  maxDelayMs: 1', ''].join('\n');
    const { jobId: jobA } = await cluster.client.submitJob({ filename: `${a}.yaml`, source, baseDir: dirname(tiny) });
    await waitFor(async () => (await cluster!.client.jobStatus(jobA)).state === 'RUNNING', { maxWaitMs: 30_000, what: 'the standing job RUNNING' });

    // Two `cs start` beside it, nobody choosing cluster names.
    const b = uniqueName('b');
    const c = uniqueName('c');
    const startB = await runningStart(await topologyFile(b));
    const startC = await runningStart(await topologyFile(c));
    for (const s of [startB, startC]) assert.match(lines(s.cs.stdout).find((l) => l.startsWith('cluster')) ?? '', /^cluster\s+start-/);

    await Promise.all([serves(a, 1), serves(b, 2), serves(c, 3)]);

    // Each cluster sees only its own TaskManagers and jobs, and each job runs on its own cluster's TaskManager.
    const overviews = await Promise.all([cluster.client, startB.client, startC.client].map(async (cl) => (await fetch(`${cl.baseUrl}/overview`)).json() as Promise<{ cluster: string }>));
    const names = overviews.map((o) => o.cluster);
    assert.equal(names[0], 'default');
    assert.equal(new Set(names).size, 3, `three distinct clusters: ${names.join(', ')}`);
    assert.deepEqual((await cluster.client.listTaskManagers()).taskmanagers.map((t) => t.id), ['tm-standing']);
    for (const s of [startB, startC]) {
      const tms = (await s.client.listTaskManagers()).taskmanagers.map((t) => t.id);
      assert.equal(tms.length, 1);
      assert.notEqual(tms[0], 'tm-standing');
      const status = await s.client.jobStatus(s.jobId);
      assert.equal(status.state, 'RUNNING');
      assert.equal(status.subtasks[0]?.taskManagerId, tms[0], 'the subtask runs on its own cluster’s TaskManager');
      assert.deepEqual((await s.client.listJobs()).jobs.map((j) => j.id), [s.jobId]);
    }
    assert.deepEqual((await cluster.client.listJobs()).jobs.map((j) => j.id), [jobA]);
    // The keys say the same: one job list and TaskManager hash per cluster.
    assert.deepEqual(await redis.zrange(jobsKey('default'), '0', '-1'), [jobA]);
    assert.deepEqual(await redis.zrange(jobsKey(names[1]!), '0', '-1'), [startB.jobId]);
    assert.deepEqual(await redis.hkeys(taskManagersKey('default')), ['tm-standing']);

    // A third `cs start` whose topology names B's stream is refused with one clear line.
    const d = uniqueName('d');
    const fileD = await topologyFile(d, b);
    const refused = csStart(fileD);
    assert.notEqual(await refused.exited, 0);
    const errLines = lines(refused.stderr);
    assert.equal(errLines.length, 1, refused.stderr);
    assert.match(errLines[0]!, new RegExp(`^error: .*stream "${b}" is read by cluster "${names[1]}"`));
    assert.equal(hasStackTrace(refused.stderr), false);
    await serves(b, 4);

    // Once B stops (its job canceled, the claim released), the stream can be served by D.
    startB.cs.child.kill('SIGINT');
    assert.equal(await startB.cs.exited, 0, startB.cs.stderr);
    const startD = await runningStart(fileD);
    await serves(b, 5);
    await serves(c, 6);
    await serves(a, 7);

    for (const s of [startC, startD]) {
      s.cs.child.kill('SIGINT');
      assert.equal(await s.cs.exited, 0, s.cs.stderr);
    }
  });
});
