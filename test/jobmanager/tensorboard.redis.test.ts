import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { JobManager } from '../../jobmanager/main';
import { lastEventStep } from '../../src/metrics/last-event-step';
import { startTestJobManager, submitTopology, yamlTopology } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { tensorBoardReader } from '../support/tensorboard-reader';
import { uniqueName, waitFor } from '../support/wait-for';

/*
 * The JobManager with --tensorboard-dir, through its real job store: each submitted job's `tensorboard`
 * field (read back from the stored topology) decides its run. No TaskManager is needed: the metrics series
 * samples every live job each second (a throughput of 0 while nothing serves it).
 */

let redisUrl: string;
let dir: string;
let jm: JobManager | undefined;

before(async () => {
  redisUrl = await testRedisUrl();
  dir = await mkdtemp(join(tmpdir(), 'cs-jm-tb-'));
});

after(async () => {
  await jm?.close();
  await stopTestRedis();
  await rm(dir, { recursive: true, force: true });
});

function withTensorBoard(name: string, field: string | undefined): ReturnType<typeof yamlTopology> {
  const t = yamlTopology(name);
  return field === undefined ? t : { ...t, source: `${t.source}tensorboard: ${field}\n` };
}

it('one run per job: <name>-<jobId>, the topology\'s run name, or none for tensorboard: false', async (t) => {
  const read = tensorBoardReader(t);
  if (!read) return;
  const tbDir = join(dir, 'tb');
  jm = await startTestJobManager({ redisUrl, cacheDir: join(dir, 'cache'), tensorboardDir: tbDir });
  const plain = uniqueName('tb-plain');
  const named = uniqueName('tb-named');
  const off = uniqueName('tb-off');
  const run = uniqueName('my-run');
  const plainId = await submitTopology(jm.url, withTensorBoard(plain, undefined));
  await submitTopology(jm.url, withTensorBoard(named, `{ run: ${run} }`));
  await submitTopology(jm.url, withTensorBoard(off, 'false'));
  const plainRun = `${plain}-${plainId}`;

  // A few samples of each job reach their files (appended every 5 s).
  await waitFor(async () => ((await lastEventStep(join(tbDir, plainRun))) ?? -1) >= 2 && ((await lastEventStep(join(tbDir, run))) ?? -1) >= 2, { maxWaitMs: 60_000, what: 'three samples in both runs' });
  await jm.close();
  jm = undefined;

  const { runs } = read(tbDir);
  assert.deepEqual(Object.keys(runs).sort(), [plainRun, run].sort(), 'no run for the job with tensorboard: false');
  for (const name of [plainRun, run]) {
    const throughput = runs[name]!.scalars['throughput/requests_per_sec'] ?? [];
    assert.ok(throughput.length >= 3, `${name}: ${throughput.length} samples`);
    assert.deepEqual(throughput.map(([step, value]) => [step, value]), throughput.map((_, i) => [i, 0]), `${name}: steps 0, 1, 2, … and nothing served`);
    assert.deepEqual((runs[name]!.scalars['requests/total'] ?? []).map(([, v]) => v).filter((v) => v !== 0), []);
    assert.equal(runs[name]!.scalars['latency/p99_ms'], undefined, 'no latency without results');
  }
});
