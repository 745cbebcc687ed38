import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody, JobStatus, SubmitJobResponse, TopologySource } from '../../src/cluster-api/dto';
import { createLogger } from '../../src/logging/logger';
import { defaultModelsDir } from '../../src/models/generate';
import { packageRoot } from '../../src/package-root';
import { JobManager } from '../../jobmanager/main';
import { TaskManager } from '../../taskmanager/main';
import { restCall, startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const LOG_LEVEL = process.env.CS_TEST_LOG_LEVEL ?? 'silent';

/** topologies/tiny-custom.ts under another job name (its model path is relative to topologies/). */
async function tinyCustom(name: string): Promise<TopologySource> {
  const text = await readFile(join(packageRoot(), 'topologies', 'tiny-custom.ts'), 'utf8');
  return { filename: `${name}.ts`, source: text.replaceAll("'tiny-custom'", `'${name}'`), baseDir: join(packageRoot(), 'topologies') };
}

describe('TypeScript topologies run only where allowed, and are checked off the event loop (real JobManager, real Redis)', () => {
  let root: string;
  let redisUrl: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'cs-code-topologies-'));
    redisUrl = await testRedisUrl();
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('a JobManager started without --allow-code-topologies refuses them with 403 naming the flag, and takes YAML', async () => {
    const jm = await startTestJobManager({ redisUrl, cacheDir: join(root, 'refusing') });
    try {
      const name = uniqueName('code');
      const res = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: await tinyCustom(name) });
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.code, 'CS_ERR_FORBIDDEN');
      assert.match(res.body.message, /TypeScript topologies are code.*--allow-code-topologies \(CS_ALLOW_CODE_TOPOLOGIES=1\)/);
      const yaml = { filename: `${name}.yaml`, source: `name: ${name}\nsource: { type: redis }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\n`, baseDir: root };
      assert.equal((await restCall<SubmitJobResponse>(jm.url, 'POST', '/jobs', { topology: yaml })).status, 200);
      assert.deepEqual((await restCall<{ jobs: { name: string }[] }>(jm.url, 'GET', '/jobs')).body.jobs.filter((j) => j.name === name).length, 1, 'only the YAML job');
    } finally {
      await jm.close();
    }
  });

  it('an allowing JobManager type-checks in a child: accepts a good one, lists type errors, and a TaskManager without the permission fails the job naming the flag', async () => {
    const jm = await startTestJobManager({ redisUrl, cacheDir: join(root, 'allowing'), allowCodeTopologies: true });
    const tm = new TaskManager({ jobmanagerUrl: jm.url, redisUrl, slots: 1, taskManagerId: uniqueName('tm'), cacheDir: join(root, 'tm'), logger: createLogger('taskmanager', LOG_LEVEL), registrationBackoff: { initialMs: 20, maxMs: 200 } });
    try {
      const bad = await readFile(join(packageRoot(), 'test', 'fixtures', 'topologies', 'type-error.ts.txt'), 'utf8');
      const refused = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: { filename: 'type-error.ts', source: bad, baseDir: join(packageRoot(), 'topologies') } });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'CS_ERR_TOPOLOGY');
      assert.ok((refused.body.problems ?? []).some((p) => /^type-error\.ts:\d+:\d+ - error TS\d+: /.test(p)), JSON.stringify(refused.body.problems));

      await tm.start();
      const name = uniqueName('code');
      const submitted = await restCall<SubmitJobResponse>(jm.url, 'POST', '/jobs', { topology: await tinyCustom(name) });
      assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
      const failed = await waitFor(async () => {
        const status = (await restCall<JobStatus>(jm.url, 'GET', `/jobs/${submitted.body.jobId}`)).body;
        return status.state === 'FAILED' ? status : undefined;
      }, { maxWaitMs: 60_000, what: 'the job FAILED by the TaskManager' });
      assert.match(failed.failure ?? '', /this TaskManager does not run code.*--allow-code-topologies/);
    } finally {
      await tm.close();
      await jm.close();
    }
  });

  it('stops a check past its time limit with a clear 400, and the JobManager answers meanwhile', async () => {
    const jm = new JobManager({
      redisUrl,
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 2000,
      cacheDir: join(root, 'limited'),
      allowCodeTopologies: true,
      topologyCheckTimeoutMs: 10_000,
      logger: createLogger('jobmanager', LOG_LEVEL),
    });
    await jm.start();
    try {
      const source = [
        "import { topology } from 'cluster-serving';",
        'const spin = (): void => {',
        '  for (;;) {}',
        '};',
        'spin();',
        "export default topology('spins').source({ type: 'redis' }).infer({ path: 'tiny.onnx' });",
        '',
      ].join('\n');
      let settled = false;
      const submit = restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: { filename: 'spins.ts', source, baseDir: defaultModelsDir() } }).finally(() => (settled = true));
      // While the check runs (it never finishes on its own), the JobManager's own event loop is free.
      let answeredMeanwhile = 0;
      while (!settled) {
        if ((await restCall<unknown>(jm.url, 'GET', '/overview')).status === 200 && !settled) answeredMeanwhile += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
      const res = await submit;
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.problems?.join('\n') ?? '', /^spins\.ts: type-checking and loading took longer than 10000 ms and was stopped$/);
      assert.ok(answeredMeanwhile > 0, 'GET /overview answered while the check ran');
    } finally {
      await jm.close();
    }
  });

  it('stops a check that outgrows its memory limit with a clear 400', async () => {
    const jm = new JobManager({
      redisUrl,
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 2000,
      cacheDir: join(root, 'small'),
      allowCodeTopologies: true,
      topologyCheckMemoryMb: 48, // less than the compiler needs for any program
      logger: createLogger('jobmanager', LOG_LEVEL),
    });
    await jm.start();
    try {
      const name = uniqueName('big');
      const res = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: await tinyCustom(name) });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.deepEqual(res.body.problems, [`${name}.ts: type-checking and loading ran out of memory (limit 48 MB)`]);
    } finally {
      await jm.close();
    }
  });
});
