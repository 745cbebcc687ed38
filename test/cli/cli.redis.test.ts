import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultModelsDir } from '../../src/models/generate';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';
import { hasStackTrace, lines, runCs } from './run-cs';

describe('cs job / cs taskmanager against a real JobManager (real Redis)', () => {
  let dir: string;
  let jm: JobManager;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-cli-redis-'));
    jm = await startTestJobManager({ redisUrl: await testRedisUrl(), cacheDir: join(dir, 'cache'), heartbeatIntervalMs: 200 });
    env = { CS_JOBMANAGER_URL: jm.url };
  });

  after(async () => {
    await jm?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  async function topologyFile(name: string, body: string): Promise<string> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, body);
    return file;
  }

  it('submit prints only the job id; list, status and cancel show the job', async () => {
    const name = uniqueName('cli-job');
    const file = await topologyFile(name, `name: ${name}\nsource:\n  type: redis\n  partitions: 2\nmodel:\n  path: ${join(defaultModelsDir(), 'tiny.onnx')}\nparallelism: 2\n`);
    const submitted = await runCs(['job', 'submit', file], { env });
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.match(submitted.stdout, /^[0-9a-f]{32}\n$/);
    const jobId = submitted.stdout.trim();
    const status = await new JobManagerClient(jm.url).jobStatus(jobId);
    assert.equal(status.filename, `${name}.yaml`);
    assert.equal((await new JobManagerClient(jm.url).jobTopology(jobId)).baseDir, dir, 'baseDir is the file’s absolute folder');

    const list = await runCs(['job', 'list'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(lines(list.stdout)[0]!, /^ID\s+NAME\s+STATE\s+PARALLELISM\s+SUBMITTED$/);
    assert.ok(
      lines(list.stdout).some((l) => l.startsWith(jobId) && l.includes(name) && l.includes('CREATED')),
      list.stdout,
    );

    const shown = await runCs(['job', 'status', jobId], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^job ${jobId}\\s+${name}\\s+CREATED`));
    assert.match(shown.stdout, /SUBTASK\s+TASKMANAGER\s+SPLITS/);

    const canceled = await runCs(['job', 'cancel', jobId, '--jobmanager', jm.url], { env: {} });
    assert.equal(canceled.code, 0, canceled.stderr);
    assert.equal(canceled.stdout, `job ${jobId} CANCELED\n`);
  });

  it('submit of an invalid topology prints one line, then every problem, and exits non-zero', async () => {
    const file = await topologyFile(uniqueName('cli-bad'), 'name: bad name\nsource:\n  type: redis\n  partitions: 0\nmodel:\n  pathh: m.onnx\n');
    const result = await runCs(['job', 'submit', file], { env });
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, '');
    const [first, ...problems] = lines(result.stderr);
    assert.equal(first, 'error: invalid topology (CS_ERR_TOPOLOGY)');
    assert.ok(problems.length >= 4, result.stderr);
    for (const p of problems) assert.match(p, /^ {2}- \S/);
    for (const field of ['name', 'source.partitions', 'model.path', 'model.pathh']) {
      assert.ok(
        problems.some((p) => p.startsWith(`  - ${field}:`)),
        `${field} in ${result.stderr}`,
      );
    }
    assert.equal(hasStackTrace(result.stderr), false);
  });

  it('status of an unknown job is one line', async () => {
    const result = await runCs(['job', 'status', 'f'.repeat(32)], { env });
    assert.notEqual(result.code, 0);
    assert.deepEqual(lines(result.stderr), [`error: job ${'f'.repeat(32)} not found (CS_ERR_NOT_FOUND)`]);
  });

  it('taskmanager list shows registered TaskManagers', async () => {
    const id = uniqueName('tm-cli');
    await new JobManagerClient(jm.url).registerTaskManager({ id, host: 'cli-host', slots: 3 });
    try {
      const result = await runCs(['taskmanager', 'list'], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(lines(result.stdout)[0]!, /^ID\s+HOST\s+SLOTS\s+FREE\s+LAST HEARTBEAT\s+METRICS\s+SUBTASKS$/);
      assert.ok(
        lines(result.stdout).some((l) => new RegExp(`^${id}\\s+cli-host\\s+3\\s+3\\s`).test(l)),
        result.stdout,
      );
    } finally {
      await new JobManagerClient(jm.url).deregisterTaskManager(id);
    }
  });
});
