import { strict as assert } from 'node:assert';
import { copyFile, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TopologySource } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { formatJobStatus } from '../../src/cli/commands/job';
import type { JobManager } from '../../jobmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName } from '../support/wait-for';
import type { TopologyError } from '../../src/errors';

function topology(name: string, modelPath: string, extra: string[] = []): TopologySource {
  const source = [`name: ${name}`, 'source:', '  type: redis', 'model:', `  path: ${modelPath}`, ...extra, ''].join('\n');
  return { filename: `${name}.yaml`, source, baseDir: '/srv/topologies' };
}

describe('cs job status shows the model the job serves', () => {
  let dir: string;
  let jm: JobManager;
  let client: JobManagerClient;
  let models: Awaited<ReturnType<typeof testModels>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-job-status-model-'));
    models = await testModels();
    jm = await startTestJobManager({ redisUrl: await testRedisUrl(), cacheDir: join(dir, 'cache'), heartbeatTimeoutMs: 800 });
    client = new JobManagerClient(jm.url);
  });
  after(async () => {
    await jm?.close();
    await stopTestRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the declared inputs and outputs (name, dtype, shape with -1 for dynamic), in the REST body and the CLI text', async () => {
    const { jobId } = await client.submitJob(topology(uniqueName('status-cnn'), models.cnn, ['postprocess: argmax']));
    try {
      const status = await client.jobStatus(jobId);
      assert.deepEqual(status.model, {
        inputs: [{ name: 'input', dtype: 'float32', shape: [-1, 3, 224, 224] }],
        outputs: [{ name: 'logits', dtype: 'float32', shape: [-1, 1000] }],
      });
      const text = formatJobStatus(status);
      assert.match(text, /MODEL\s+NAME\s+DTYPE\s+SHAPE/);
      assert.match(text, /input\s+input\s+float32\s+\[\?, 3, 224, 224\]/);
      assert.match(text, /output\s+logits\s+float32\s+\[\?, 1000\]/);
      // The HTTP metadata of the same job comes from the same reading, with the postprocess applied.
      const meta = (await (await fetch(`${jm.url}/v2/models/${status.name}`)).json()) as { inputs: { name: string; shape: number[] }[]; outputs: { name: string; datatype: string; shape: number[] }[] };
      assert.deepEqual(meta.inputs.map((i) => [i.name, i.shape]), [['input', [-1, 3, 224, 224]]]);
      assert.deepEqual(meta.outputs.map((o) => [o.name, o.datatype, o.shape]), [['logits_argmax', 'INT32', [-1]]]);
    } finally {
      await client.cancelJob(jobId);
    }
  });

  it("reads the JobManager's content-hash copy: the model path may be gone after submit", async () => {
    const path = join(dir, 'moved-away.onnx');
    await copyFile(models.tiny, path);
    const { jobId } = await client.submitJob(topology(uniqueName('status-moved'), path));
    try {
      await unlink(path);
      const status = await client.jobStatus(jobId);
      assert.deepEqual(status.model?.inputs, [{ name: 'input', dtype: 'float32', shape: [-1, 16] }]);
      assert.deepEqual(status.model?.outputs, [{ name: 'output', dtype: 'float32', shape: [-1, 8] }]);
    } finally {
      await client.cancelJob(jobId);
    }
  });

  it('refuses at submit a job whose model path cannot be read (no job to describe)', async () => {
    await assert.rejects(client.submitJob(topology(uniqueName('status-missing'), join(dir, 'missing.onnx'))), (err: TopologyError) => {
      assert.equal(err.code, 'CS_ERR_TOPOLOGY');
      assert.match(err.problems.join('\n'), /^model\.path: .*missing\.onnx: no such file/);
      return true;
    });
  });
});
