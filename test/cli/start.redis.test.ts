import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { toTypedArray } from '../../src/tensor/tensor';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { ensureModels } from '../../src/models/generate';
import { packageRoot } from '../../src/package-root';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { hasStackTrace, lines, spawnCs } from './run-cs';

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function start(args: readonly string[]): Running {
  const child = spawnCs(args);
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout?.on('data', (d: Buffer) => (running.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (running.stderr += d.toString()));
  return running;
}

describe('cs start FILE (one machine, real Redis, real ONNX Runtime)', () => {
  let dir: string;
  let redisUrl: string;
  let tinyModel: string;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-start-test-'));
    redisUrl = await testRedisUrl();
    tinyModel = (await ensureModels(join(dir, 'models'), ['tiny'])).tiny;
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  function startArgs(file: string): string[] {
    return ['start', file, '--port', '0', '--redis', redisUrl, '--cache-dir', join(dir, 'cache'), '--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '2000'];
  }

  it('runs the job until SIGINT, serving requests, then cancels it and exits 0', async () => {
    const name = uniqueName('start');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${tinyModel}\nbatch:\n  maxDelayMs: 1\n`);
    const cs = start(startArgs(file));
    children.push(cs.child);
    await waitFor(() => cs.stdout.includes('ready;') || cs.child.exitCode !== null, { maxWaitMs: 30_000, what: 'cs start to be running' });
    assert.equal(cs.child.exitCode, null, cs.stderr);
    const out = lines(cs.stdout);
    const jobId = /^job\s+([0-9a-f]{32})\b/.exec(out[0] ?? '')?.[1];
    assert.ok(jobId, cs.stdout);
    assert.match(out[1] ?? '', new RegExp(`^requests\\s+${redisUrl.replace(/[/.]/g, '\\$&')} stream "${name}"$`));
    const restUrl = /^REST\s+(http:\/\/\S+)$/.exec(out[2] ?? '')?.[1];
    assert.ok(restUrl, cs.stdout);

    const client = new JobManagerClient(restUrl);
    const status = await client.jobStatus(jobId);
    assert.equal(status.state, 'RUNNING');
    assert.ok(status.subtasks[0]?.taskManagerId, 'the subtask runs on the in-process TaskManager');

    const queue = new InputQueue({ redis: redisUrl, stream: name });
    try {
      const x = Float32Array.from({ length: 16 }, (_, i) => (i - 7) / 3);
      const outputs = await queue.predict({ input: { data: x, shape: [1, 16] } }, { timeoutMs: 20_000 });
      assert.deepEqual(outputs.get('output')?.shape, [1, 8]);
      // Equal to onnxruntime-node run directly on the same model file and input.
      const session = await ort.InferenceSession.create(tinyModel);
      const direct = (await session.run({ input: new ort.Tensor('float32', x, [1, 16]) })).output!.data as Float32Array;
      await session.release();
      assert.deepEqual([...(toTypedArray(outputs.get('output')!) as Float32Array)], [...direct]);
    } finally {
      await queue.close();
    }

    cs.child.kill('SIGINT');
    assert.equal(await cs.exited, 0, cs.stderr);
    assert.equal(hasStackTrace(cs.stderr), false);
  });

  it('stops with one error line when the model file is missing (it is uploaded to its own JobManager)', async () => {
    const name = uniqueName('start-fail');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: no-such-model.onnx\n`);
    const cs = start(startArgs(file));
    children.push(cs.child);
    const code = await cs.exited;
    assert.notEqual(code, 0);
    const errLines = lines(cs.stderr);
    assert.equal(errLines.length, 1, cs.stderr);
    assert.match(errLines[0]!, /^error: cannot read the model file \S*no-such-model\.onnx \(model\.path of \S+\): no such file \(CS_ERR_MODEL_LOAD\)$/);
  });

  it('runs a TypeScript topology on its loopback-only cluster, saying that it allows code; asks for the flag on another address', async () => {
    const name = uniqueName('start-ts');
    const file = join(dir, `${name}.ts`);
    const text = (await readFile(join(packageRoot(), 'topologies', 'tiny-custom.ts'), 'utf8'))
      .replaceAll("'tiny-custom'", `'${name}'`)
      .replace(/'\.\.\/models\/tiny\.onnx'/, JSON.stringify(tinyModel));
    await writeFile(file, text);

    const open = start([...startArgs(file), '--host', '0.0.0.0']);
    children.push(open.child);
    assert.notEqual(await open.exited, 0);
    assert.deepEqual(lines(open.stderr), [`error: ${name}.ts is a TypeScript topology and the JobManager would listen on 0.0.0.0, where others could submit code too: add --allow-code-topologies to allow that, or listen on 127.0.0.1 (CS_ERR_CONFIG)`]);

    const cs = start(startArgs(file));
    children.push(cs.child);
    await waitFor(() => cs.stdout.includes('ready;') || cs.child.exitCode !== null, { maxWaitMs: 90_000, what: 'cs start to be running' });
    assert.equal(cs.child.exitCode, null, cs.stderr);
    assert.match(cs.stderr, new RegExp(`^code +${name}\\.ts is TypeScript: code topologies are allowed for this cluster, whose JobManager listens on 127\\.0\\.0\\.1 only$`, 'm'));
    const queue = new InputQueue({ redis: redisUrl, stream: name });
    try {
      const x = Float32Array.from({ length: 16 }, (_, i) => i / 16);
      const outputs = await waitFor(() => queue.predict({ input: { data: x, shape: [1, 16] } }, { timeoutMs: 5000 }).catch(() => undefined), { maxWaitMs: 90_000, what: 'a result' });
      assert.deepEqual(outputs.get('argmax')?.shape, [1], 'the topology\'s own result step ran');
    } finally {
      await queue.close();
    }
    cs.child.kill('SIGINT');
    assert.equal(await cs.exited, 0, cs.stderr);
  });
});
