import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { clusterKeyPrefix, jobKey, jobsKey } from '../../src/cluster-api/keys';
import { JobStore, type JobRecord } from '../../jobmanager/state/job-store';
import { TestCluster } from '../support/cluster-processes';
import { submitTinyJob } from '../support/logged-cs';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { lines, runCs } from './run-cs';

/** Every key of one job in the cluster `default` (its hash and everything under `job:<id>:`). */
async function keysOf(redis: Redis, jobId: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${clusterKeyPrefix('default')}job:${jobId}*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

describe('finished jobs: --job-retention prunes them, cs job list hides them, --all shows them', () => {
  let dir: string;
  let redis: Redis;
  let redisUrl: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-retention-'));
    redisUrl = await testRedisUrl();
    redis = new Redis(redisUrl);
  });
  after(async () => {
    redis.disconnect();
    await stopTestRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('a canceled job is listed with --all only, then removed with its keys after the retention; a running job stays', async () => {
    // Long enough for the two `cs job list` runs below on a busy machine, short enough to wait for.
    const cluster = await TestCluster.start(redisUrl, dir, { env: { CS_JOB_RETENTION: '15s', CS_LOG_LEVEL: 'info' } });
    try {
      await cluster.startTaskManager(uniqueName('tm'), 2);
      const env = { CS_JOBMANAGER_URL: cluster.url };
      const finished = await submitTinyJob(cluster.client, dir, uniqueName('retention-done'));
      const running = await submitTinyJob(cluster.client, dir, uniqueName('retention-run'));
      assert.ok((await keysOf(redis, finished)).length > 1, 'the job has keys besides its hash (fences, checkpoints, …)');
      const canceledAt = Date.now();
      await cluster.client.cancelJob(finished);

      const list = await runCs(['job', 'list'], { env });
      assert.equal(list.code, 0, list.stderr);
      const shown = lines(list.stdout);
      assert.match(shown[0]!, /^ID\s+NAME\s+STATE\s+PARALLELISM\s+SUBMITTED$/);
      assert.ok(shown.some((l) => l.startsWith(running) && l.includes('RUNNING')), list.stdout);
      assert.ok(!shown.some((l) => l.startsWith(finished)), `the canceled job is hidden:\n${list.stdout}`);
      assert.equal(shown.at(-1), '1 finished job not shown: cs job list --all, kept 15s after they finish');

      const all = await runCs(['job', 'list', '--all'], { env });
      assert.equal(all.code, 0, all.stderr);
      const allLines = lines(all.stdout);
      assert.match(allLines[0]!, /^ID\s+NAME\s+STATE\s+PARALLELISM\s+SUBMITTED\s+FINISHED$/);
      const row = allLines.find((l) => l.startsWith(finished));
      assert.ok(row !== undefined, `--all lists the canceled job while it is kept:\n${all.stdout}`);
      assert.match(row, /CANCELED\s+\d+\s+\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$/);
      assert.match(allLines.find((l) => l.startsWith(running))!, /RUNNING\s+\d+\s+\S+Z\s+-$/);
      assert.equal(allLines.at(-1), 'finished jobs are kept 15s after they finish');
      const status = await cluster.client.jobStatus(finished);
      assert.ok(status.finishedAt !== undefined && status.finishedAt >= canceledAt - 1000, 'status says when it finished');

      await waitFor(async () => (await keysOf(redis, finished)).length === 0, { maxWaitMs: 90_000, what: 'the canceled job and its keys removed' });
      assert.ok(Date.now() - canceledAt >= 15_000, 'not before its retention');
      assert.equal(await redis.zscore(jobsKey('default'), finished), null);
      const after = await cluster.client.listJobs();
      assert.equal(after.jobs.some((j) => j.id === finished), false);
      assert.equal(after.jobs.find((j) => j.id === running)?.state, 'RUNNING', 'the running job stays');
      assert.ok((await keysOf(redis, running)).includes(jobKey('default', running)));
      const none = await runCs(['job', 'list', '--all'], { env });
      assert.ok(!none.stdout.includes(finished), none.stdout);
      const pruned = lines(cluster.jobManager!.output())
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; jobId?: string; state?: string })
        .find((e) => e.msg === 'jobmanager.job.pruned');
      assert.deepEqual([pruned?.jobId, pruned?.state], [finished, 'CANCELED'], 'the JobManager logs the removal (JSON: stderr is not a terminal)');
    } finally {
      await cluster.stop();
    }
  });

  it('JobStore.pruneFinished: a finished job stored without finishedAt gets it and goes one retention later; active jobs never', async () => {
    const cluster = uniqueName('prune').slice(0, 32);
    let now = 1_000_000;
    const store = new JobStore(redis, cluster, () => now);
    const record = (id: string, state: JobRecord['state']): JobRecord => ({ id, name: id, state, parallelism: 1, submittedAt: now, filename: 'x.yaml', baseDir: dir, splits: ['s'], sharing: 'share', subtasks: [] });
    await store.create(record('legacy', 'CANCELED'), { filename: 'x.yaml', source: '', baseDir: dir });
    await store.create(record('active', 'RUNNING'), { filename: 'x.yaml', source: '', baseDir: dir });
    await store.create(record('failing', 'RUNNING'), { filename: 'x.yaml', source: '', baseDir: dir });
    await store.update('failing', { state: 'FAILED', failure: 'boom' });
    assert.equal((await store.get('failing'))?.finishedAt, now);

    assert.deepEqual(await store.pruneFinished(now - 1), [], 'nothing finished long enough ago');
    assert.equal((await store.get('legacy'))?.finishedAt, now, 'the legacy record got finishedAt');
    now += 5000;
    assert.deepEqual((await store.pruneFinished(now - 5000)).map((j) => j.id).sort(), ['failing', 'legacy']);
    assert.deepEqual((await store.list()).map((j) => j.id), ['active']);
    assert.equal(await redis.exists(jobKey(cluster, 'legacy'), jobKey(cluster, 'failing')), 0);
    assert.deepEqual(await store.pruneFinished(now + 1_000_000), [], 'a running job is never removed');
  });
});
