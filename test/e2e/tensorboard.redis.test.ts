import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { decodeEvent } from '../../src/metrics/tf-event';
import { readRecords } from '../../src/metrics/tf-record';
import { spawnCs } from '../cli/run-cs';
import { LoadGenerator } from '../support/load-generator';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { tensorBoardReader } from '../support/tensorboard-reader';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput, tinyTopology } from './e2e-helpers';

/*
 * Issue 15's Done-when, end to end: `cs start --tensorboard-dir DIR` (a real JobManager and TaskManager in
 * a real process) serves a job under load; TensorBoard's own reader then finds the job's run
 * `<name>-<jobId>` in DIR with a throughput above zero and every request counted.
 */

let redisUrl: string;
let dir: string;
let child: ChildProcess | undefined;

before(async () => {
  redisUrl = await testRedisUrl();
  await ensureModels(defaultModelsDir(), ['tiny']);
  dir = await mkdtemp(join(tmpdir(), 'cs-tb-e2e-'));
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await stopTestRedis();
  await rm(dir, { recursive: true, force: true });
});

/** The largest throughput in the run's event files, read with our own decoder (cheap enough to poll). */
async function peakThroughput(runDir: string): Promise<number> {
  let peak = 0;
  for (const name of await readdir(runDir).catch(() => [])) {
    for (const record of readRecords(await readFile(join(runDir, name))).records) {
      for (const s of decodeEvent(record).scalars ?? []) if (s.tag === 'throughput/requests_per_sec') peak = Math.max(peak, s.value);
    }
  }
  return peak;
}

it('cs start --tensorboard-dir: the job\'s run shows its throughput to TensorBoard\'s reader', async (t) => {
  const read = tensorBoardReader(t);
  if (!read) return;
  const tbDir = join(dir, 'tensorboard');
  const name = uniqueName('tb');
  const topology = tinyTopology(dir, name, 1, 1);
  const file = join(topology.baseDir, topology.filename);
  child = spawnCs(['start', file, '--port', '0', '--redis', redisUrl, '--cache-dir', join(dir, 'cache'), '--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '2000', '--tensorboard-dir', tbDir]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  await waitFor(() => stdout.includes('ready;') || child!.exitCode !== null, { maxWaitMs: 60_000, what: 'cs start to be running' });
  assert.equal(child.exitCode, null, stderr);
  const jobId = /^job\s+([0-9a-f]{32})\b/m.exec(stdout)?.[1];
  assert.ok(jobId, stdout);
  const restUrl = /^REST\s+(http:\/\/\S+)$/m.exec(stdout)?.[1];
  assert.ok(restUrl, stdout);
  const run = `${name}-${jobId}`;
  assert.match(stdout, new RegExp(`^TB\\s+${join(tbDir, run).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(view with: tensorboard --logdir `, 'm'), stdout);

  const gen = new LoadGenerator(redisUrl, name, 1, tinyInput);
  try {
    let checkedAt = 0;
    await gen.runUntil(
      50,
      async () => {
        if (performance.now() - checkedAt < 1000) return false;
        checkedAt = performance.now();
        return (await peakThroughput(join(tbDir, run))) > 0;
      },
      { maxWaitMs: 90_000, what: `a throughput above 0 in ${join(tbDir, run)}` },
    );
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 60_000, what: 'every request answered' });
  } finally {
    await gen.close();
  }
  const sent = gen.sent.size;
  // Once the JobManager's totals hold every result, one more sample carries them into the run; then stop
  // (closing flushes the event file).
  const client = new JobManagerClient(restUrl);
  const countedAt = await waitFor(async () => ((await client.jobMetrics(jobId)).totals.requests === sent ? Date.now() : 0), { maxWaitMs: 60_000, what: `job totals = ${sent}` });
  await waitFor(async () => (await client.jobMetrics(jobId, countedAt)).points.length > 0, { maxWaitMs: 30_000, what: 'a sample after the totals' });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);

  const { runs } = read(tbDir);
  assert.deepEqual(Object.keys(runs), [run]);
  assert.equal(runs[run]!.file_version, 2);
  const scalars = runs[run]!.scalars;
  const throughput = scalars['throughput/requests_per_sec'] ?? [];
  assert.ok(throughput.some(([, v]) => v > 0), `a throughput above 0: ${JSON.stringify(throughput)}`);
  assert.deepEqual(throughput.map(([step]) => step), throughput.map((_, i) => i), 'one step per sample, from 0');
  const served = throughput.filter(([, v]) => v > 0).map(([step]) => step);
  const p99 = new Map((scalars['latency/p99_ms'] ?? []).map(([step, v]) => [step, v]));
  assert.ok(served.some((step) => (p99.get(step) ?? 0) > 0), 'latency charted where requests were served');
  assert.ok((scalars['batch/mean_size'] ?? []).every(([, v]) => v >= 1));
  const totals = (scalars['requests/total'] ?? []).map(([, v]) => v);
  assert.ok(totals.length > 0 && totals.every((v, i) => i === 0 || v >= totals[i - 1]!), 'requests/total never goes down');
  assert.equal(totals[totals.length - 1], sent, 'the last sample counts every request sent');
  assert.deepEqual((scalars['errors/total'] ?? []).filter(([, v]) => v !== 0), [], 'no errors');
});
