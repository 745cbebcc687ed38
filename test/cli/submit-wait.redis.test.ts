import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputQueue } from '../../src/client/input-queue';
import { defaultModelsDir } from '../../src/models/generate';
import { TestCluster } from '../support/cluster-processes';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';
import { hasStackTrace, lines, runCs } from './run-cs';

/** Issue 15's Done-when: `cs job submit --wait` returns only once a first request can be served; mistakes fail at submit. */
describe('cs job submit --wait and checks at submit (real JobManager and TaskManager processes)', () => {
  let dir: string;
  let redisUrl: string;
  let cluster: TestCluster;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-submit-wait-'));
    redisUrl = await testRedisUrl();
    cluster = await TestCluster.start(redisUrl, join(dir, 'cache'));
    await cluster.startTaskManager(uniqueName('tm-wait'), 2);
    env = { CS_JOBMANAGER_URL: cluster.url };
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('--wait prints the job id, then "ready" only once the job serves; a request sent then is answered', async () => {
    const name = uniqueName('wait');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource: { type: redis, partitions: 2 }\nbatch: { maxSize: 8, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nparallelism: 2\n`);
    const submitted = await runCs(['job', 'submit', file, '--wait', '--wait-timeout', '120'], { env });
    assert.equal(submitted.code, 0, submitted.stderr);
    const out = lines(submitted.stdout);
    assert.equal(out.length, 2, submitted.stdout);
    assert.match(out[0]!, /^[0-9a-f]{32}$/);
    assert.equal(out[1], 'ready');
    // At the moment --wait returned, every subtask had reported its model loaded and its splits read.
    const status = await cluster.client.jobStatus(out[0]!);
    assert.equal(status.state, 'RUNNING');
    assert.ok(status.subtasks.every((s) => s.taskManagerId !== null), JSON.stringify(status.subtasks));
    const q = new InputQueue({ redis: redisUrl, stream: name, partitions: 2 });
    try {
      await q.waitReady({ timeoutMs: 1_000 }); // the clients' view agrees at once
      const outputs = await q.predict({ input: { data: new Float32Array(16).fill(0.5), shape: [1, 16] } }, { timeoutMs: 60_000 });
      assert.deepEqual(outputs.get('output')?.shape, [1, 8]);
    } finally {
      await q.close();
      await cluster.client.cancelJob(out[0]!);
    }
  });

  it('a missing model and an unavailable source fail at submit: exit 1, one line per problem, no job created', async () => {
    const name = uniqueName('refused');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource: { type: kafka, brokers: [127.0.0.1:9092], topic: t }\nmodel: { path: ${join(dir, 'no-such-model.onnx')} }\n`);
    const before = (await cluster.client.listJobs()).jobs.length;
    const submitted = await runCs(['job', 'submit', file, '--wait'], { env });
    assert.equal(submitted.code, 1, submitted.stdout);
    assert.equal(submitted.stdout, '');
    assert.ok(!hasStackTrace(submitted.stderr), submitted.stderr);
    const err = lines(submitted.stderr);
    assert.ok(err.some((l) => /no-such-model\.onnx/.test(l)), submitted.stderr);
    assert.ok(err.some((l) => /kafka/.test(l)), submitted.stderr);
    assert.ok(err.length <= 4, submitted.stderr); // a header and one line per problem
    assert.equal((await cluster.client.listJobs()).jobs.length, before);
  });
});
