import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { packageRoot } from '../../src/package-root';
import { toTypedArray } from '../../src/tensor/tensor';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { waitFor } from '../support/wait-for';
import { hasStackTrace, lines, runCs, spawnCs } from '../cli/run-cs';

/**
 * The product as a user runs it, in separate processes: `cs jobmanager start`, `cs taskmanager start`,
 * `cs job submit topologies/tiny-custom.ts` (a TypeScript topology with user-defined result steps,
 * shipped by the JobManager to the TaskManager), then a TypeScript client. Both processes allow code
 * topologies (`--allow-code-topologies`); the JobManager has no model directory, so `cs job submit`
 * uploads the model and the TaskManager downloads it by hash. Every wait is for an outcome, with room
 * for a busy machine.
 */
describe('cs job submit of a TypeScript topology, with real JobManager and TaskManager processes', () => {
  const children: ChildProcess[] = [];
  let jm: string;
  let redis: string;
  let cacheDir: string;

  before(async () => {
    redis = await testRedisUrl();
    await ensureModels(defaultModelsDir(), ['tiny', 'cnn']);
    cacheDir = mkdtempSync(join(tmpdir(), 'cs-e2e-'));
    const port = await freePort();
    jm = `http://127.0.0.1:${port}`;
    const env = { CS_HEARTBEAT_INTERVAL_MS: '200', CS_HEARTBEAT_TIMEOUT_MS: '3000' };
    children.push(spawnCs(['jobmanager', 'start', '--port', String(port), '--redis', redis, '--cache-dir', join(cacheDir, 'jm'), '--allow-code-topologies'], { env }));
    children.push(spawnCs(['taskmanager', 'start', '--jobmanager', jm, '--redis', redis, '--cache-dir', join(cacheDir, 'tm'), '--allow-code-topologies'], { env }));
    await waitFor(async () => (await new JobManagerClient(jm).listTaskManagers()).taskmanagers.length === 1, { maxWaitMs: 60_000, what: 'a registered TaskManager' });
  });

  after(async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await stopTestRedis();
  });

  test('the user-defined steps run on the TaskManager and every output is right', async () => {
    const submitted = await runCs(['job', 'submit', join(packageRoot(), 'topologies', 'tiny-custom.ts'), '--jobmanager', jm]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const [jobId] = lines(submitted.stdout);
    assert.match(jobId ?? '', /^[0-9a-f]{32}$/);
    const client = new JobManagerClient(jm);
    await waitFor(async () => (await client.jobStatus(jobId!)).state === 'RUNNING', { maxWaitMs: 60_000, what: 'job RUNNING' });

    const q = new InputQueue({ redis, stream: 'tiny-custom' });
    const session = await ort.InferenceSession.create(join(defaultModelsDir(), 'tiny.onnx'));
    try {
      const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * 0.7));
      // The TaskManager starts the subtask on its next heartbeat: retry the first request briefly.
      const outputs = await waitFor(() => q.predict({ input: { data: x, shape: [1, 16] } }, { timeoutMs: 5000 }).catch(() => undefined), { maxWaitMs: 90_000, what: 'first result' });
      const direct = (await session.run({ input: new ort.Tensor('float32', x, [1, 16]) })).output!.data as Float32Array;
      const output = toTypedArray(outputs.get('output')!) as Float32Array;
      assert.deepEqual([...output], [...direct]);
      const sum = (toTypedArray(outputs.get('sum')!) as Float32Array)[0]!;
      assert.ok(Math.abs(sum - direct.reduce((a, b) => a + b, 0)) < 1e-5);
      const argmax = (toTypedArray(outputs.get('argmax')!) as Int32Array)[0]!;
      assert.equal(argmax, direct.indexOf(Math.max(...direct)));

      // A bad request is refused for that request alone; the job keeps serving.
      await assert.rejects(q.predict({ input: { data: Float64Array.from(x), shape: [1, 16] } }), /dtype float64, expected float32/);
      assert.equal((await q.predict({ input: { data: x, shape: [1, 16] } })).get('argmax')!.shape[0], 1);

      const status = await runCs(['job', 'status', jobId!, '--jobmanager', jm]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /RUNNING/);
      const cancel = await runCs(['job', 'cancel', jobId!, '--jobmanager', jm]);
      assert.equal(cancel.code, 0, cancel.stderr);
      await waitFor(async () => (await client.jobStatus(jobId!)).state === 'CANCELED', { what: 'job CANCELED' });
    } finally {
      await q.close();
      await session.release();
    }
  });

  test('a topology with a wrong field is refused with one line and the field named', async () => {
    const bad = join(packageRoot(), 'test', 'fixtures', 'topologies', 'unknown-field.yaml');
    const r = await runCs(['job', 'submit', bad, '--jobmanager', jm]);
    assert.notEqual(r.code, 0);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assert.match(r.stderr, /invalid topology/);
    assert.match(r.stderr, /\.\w+: unknown field/);
  });
});
