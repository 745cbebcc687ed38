import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody, JobList, SubmitJobResponse, TopologySource } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import type { JobManager } from '../../jobmanager/main';
import { restCall, startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { testModels } from '../support/test-models';
import { uniqueName } from '../support/wait-for';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function yaml(name: string, modelPath: string, baseDir: string): TopologySource {
  return { filename: `${name}.yaml`, source: `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${JSON.stringify(modelPath)}\n`, baseDir };
}

async function get(base: string, path: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('model files are confined to the model directories or uploaded with the job (real JobManager, real Redis)', () => {
  let root: string;
  let modelDir: string;
  let secret: Buffer;
  let tiny: Buffer;
  let jm: JobManager;
  let client: JobManagerClient;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'cs-confine-'));
    modelDir = join(root, 'models');
    await mkdir(join(modelDir, 'sub'), { recursive: true });
    await copyFile((await testModels()).tiny, join(modelDir, 'tiny.onnx'));
    tiny = await readFile(join(modelDir, 'tiny.onnx'));
    secret = Buffer.from(`secret ${uniqueName('s')}\n`);
    await writeFile(join(root, 'secret.onnx'), secret);
    await symlink(join(root, 'secret.onnx'), join(modelDir, 'link.onnx'));
    await symlink(root, join(modelDir, 'sub', 'up'));
    jm = await startTestJobManager({ redisUrl: await testRedisUrl(), cacheDir: join(root, 'jm-cache'), modelDirs: [modelDir] });
    client = new JobManagerClient(jm.url);
  });

  after(async () => {
    await jm?.close();
    await rm(root, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('refuses at submit every model path outside the model directories, as written or through a symlink, with 400 and no job', async () => {
    const before = (await restCall<JobList>(jm.url, 'GET', '/jobs')).body.jobs.length;
    const outside = [
      '../../../../../../etc/passwd',
      '/etc/passwd',
      join(root, 'secret.onnx'),
      '../secret.onnx',
      'link.onnx', // a symlink inside the folder to a file outside it
      'sub/up/secret.onnx', // a folder symlink inside it that leads out
      'sub', // a folder, not a file
      '/dev/zero',
    ];
    for (const path of outside) {
      const res = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: yaml(uniqueName('out'), path, modelDir) });
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'CS_ERR_TOPOLOGY');
      assert.match(res.body.problems?.join('\n') ?? '', /model\.path: .* is not a file inside the JobManager's model directories \(.*models\); upload the model with the job/, path);
    }
    assert.equal((await restCall<JobList>(jm.url, 'GET', '/jobs')).body.jobs.length, before, 'no job was created');
  });

  it('keeps a model inside the model directories by hash and serves only held models, by job or by hash', async () => {
    const { jobId } = await client.submitJob(yaml(uniqueName('inside'), 'tiny.onnx', modelDir));
    try {
      assert.deepEqual((await get(jm.url, `/jobs/${jobId}/model`)).bytes, tiny);
      const byHash = await get(jm.url, `/models/${sha256(tiny)}`);
      assert.equal(byHash.status, 200);
      assert.deepEqual(byHash.bytes, tiny);
      assert.equal(await client.hasModel(sha256(tiny)), true);

      // Nothing else can be fetched: not the secret by its hash, not a path, not a traversal.
      for (const path of [
        `/models/${sha256(secret)}`,
        '/models/..%2F..%2F..%2Fsecret.onnx',
        '/models/%2Fetc%2Fpasswd',
        `/models/${sha256(tiny)}%2F..%2F..%2F..%2Fsecret.onnx`,
        `/models/${sha256(tiny).toUpperCase()}`,
        '/models/../../secret.onnx',
        `/jobs/${'0'.repeat(32)}/model`,
        `/jobs/..%2F..%2Fsecret.onnx/model`,
      ]) {
        const res = await get(jm.url, path);
        assert.equal(res.status, 404, `${path} answered ${res.status}`);
        assert.ok(!res.bytes.includes(secret), path);
      }
      assert.equal(await client.hasModel(sha256(secret)), false);
    } finally {
      await client.cancelJob(jobId);
    }
  });

  it('runs an uploaded model whatever path the topology names, never reading that path; refuses bytes of another hash', async () => {
    const upload = join(root, 'upload.onnx');
    await writeFile(upload, tiny);
    const wrong = await fetch(`${jm.url}/models/${sha256(secret)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: tiny });
    assert.equal(wrong.status, 400);
    assert.match(((await wrong.json()) as ErrorBody).message, /upload refused: model bytes hash to/);
    assert.equal(await client.hasModel(sha256(secret)), false, 'nothing kept from a refused upload');

    const notUploaded = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: yaml(uniqueName('x'), '/etc/passwd', root), modelSha256: 'a'.repeat(64) });
    assert.equal(notUploaded.status, 400);
    assert.match(notUploaded.body.message, /is not on the JobManager: upload it first/);

    const uploaded = await client.uploadModel(sha256(tiny), upload);
    assert.deepEqual(uploaded, { sha256: sha256(tiny), bytes: tiny.length });
    const name = uniqueName('uploaded');
    const { jobId } = await client.submitJob(yaml(name, '/etc/passwd', root), { modelSha256: sha256(tiny) });
    try {
      assert.deepEqual((await get(jm.url, `/jobs/${jobId}/model`)).bytes, tiny);
      const metadata = await restCall<{ inputs: { name: string }[] }>(jm.url, 'GET', `/v2/models/${name}`);
      assert.equal(metadata.status, 200, JSON.stringify(metadata.body));
      assert.deepEqual(metadata.body.inputs.map((i) => i.name), ['input'], 'described from the uploaded copy');
    } finally {
      await client.cancelJob(jobId);
    }
  });

  it('answers a retried submit with the same submit id with the same job', async () => {
    const topology = yaml(uniqueName('retried'), 'tiny.onnx', modelDir);
    const submitId = uniqueName('submit');
    const [a, b] = await Promise.all([
      restCall<SubmitJobResponse>(jm.url, 'POST', '/jobs', { topology, submitId }),
      restCall<SubmitJobResponse>(jm.url, 'POST', '/jobs', { topology, submitId }),
    ]);
    const c = await restCall<SubmitJobResponse>(jm.url, 'POST', '/jobs', { topology, submitId });
    assert.deepEqual([a.status, b.status, c.status], [200, 200, 200], JSON.stringify([a.body, b.body, c.body]));
    assert.equal(b.body.jobId, a.body.jobId);
    assert.equal(c.body.jobId, a.body.jobId);
    const named = (await client.listJobs()).jobs.filter((j) => j.name === topology.filename.replace(/\.yaml$/, ''));
    assert.equal(named.length, 1, 'one job');
    await client.cancelJob(a.body.jobId);
  });

  it('refuses an alias bomb and an oversized topology with a 4xx and a clear message, never a 500', async () => {
    const bomb = ['name: bomb', 'source: { type: redis }', 'model: { path: tiny.onnx }', 'a0: &a0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) bomb.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
    const aliases = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: { filename: 'bomb.yaml', source: bomb.join('\n'), baseDir: modelDir } });
    assert.equal(aliases.status, 400, JSON.stringify(aliases.body));
    assert.match(aliases.body.problems?.join('\n') ?? '', /bomb\.yaml: too many aliases \(at most 100 alias expansions\)/);

    const padding = `# ${'x'.repeat(300 * 1024)}\n`;
    const big = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: { filename: 'big.yaml', source: `${padding}name: big\nsource: { type: redis }\nmodel: { path: tiny.onnx }\n`, baseDir: modelDir } });
    assert.equal(big.status, 400, JSON.stringify(big.body));
    assert.match(big.body.message, /topology\.source: the topology file is larger than 262144 bytes/);

    const huge = await restCall<ErrorBody>(jm.url, 'POST', '/jobs', { topology: { filename: 'huge.yaml', source: 'x'.repeat(9 * 1024 * 1024), baseDir: modelDir } });
    assert.equal(huge.status, 413, JSON.stringify(huge.body));
    assert.equal(huge.body.code, 'CS_ERR_BAD_REQUEST');
  });
});
