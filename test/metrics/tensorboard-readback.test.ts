import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TfEventsWriter } from '../../src/metrics/tfevents-writer';
import { TensorBoardRecorder, type TensorBoardSample } from '../../jobmanager/tensorboard-recorder';
import type { TensorBoardSpec } from '../../src/topology/schema';
import { tensorBoardReader, type ReadScalar } from '../support/tensorboard-reader';

/*
 * The Done-when of issue 15: TensorBoard's own reader (PyPI tensorboard, EventMultiplexer) returns the
 * scalars written, with the right tags, steps, values and wall times. That reader drops a record whose
 * CRC is wrong without a word, so every value coming back is checked.
 */

const silent = pino({ level: 'silent' });
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cs-tb-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** [step, float32 value, wall time] as the reader answers them. */
function expected(step: number, value: number, wallMs: number): ReadScalar {
  return [step, Math.fround(value), wallMs / 1000];
}

function sample(jobId: string, jobName: string, at: number, i: number, overrides: Partial<TensorBoardSample['point']> = {}): TensorBoardSample {
  return {
    jobId,
    jobName,
    point: { at, requestsPerSec: 100 + i, errorsPerSec: i / 2, latencyP50Ms: 1.5 + i, latencyP90Ms: 2.25 + i, latencyP99Ms: 9.75 + i, meanBatchSize: 4 + i / 4, lag: 10 * i, pending: i, ...overrides },
    totals: { requests: 1000 * (i + 1), errors: 3 * i, errorsByCode: i === 0 ? {} : { CS_ERR_SHAPE: 2 * i, CS_ERR_POISON: i } },
  };
}

describe('TensorBoard reads back what the writer wrote', () => {
  it('a plain event file: version record, scalars by tag, steps, float32 values, wall times', async (t) => {
    const read = tensorBoardReader(t);
    if (!read) return;
    const logDir = join(root, 'writer');
    const writer = new TfEventsWriter({ dir: join(logDir, 'run-1'), logger: silent, flushIntervalMs: 60_000 });
    const t0 = 1_760_000_000_000;
    const values = [0, 0.1, 812.5, 1e-7, 1.5e38];
    values.forEach((v, step) => writer.addScalars(step, [{ tag: 'a/value', value: v }, { tag: 'b/twice', value: 2 * v }], t0 + step * 1000));
    writer.addScalars(5, [{ tag: 'a/value', value: Number.NaN }]); // not finite: left out
    await writer.close();

    const files = await readdir(join(logDir, 'run-1'));
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^events\.out\.tfevents\.\d{10}\.[A-Za-z0-9_.-]+$/);
    assert.equal(join(logDir, 'run-1', files[0]!), writer.path);

    const { runs } = read(logDir);
    assert.deepEqual(Object.keys(runs), ['run-1']);
    assert.equal(runs['run-1']!.file_version, 2, 'the first event carries file_version "brain.Event:2"');
    assert.deepEqual(runs['run-1']!.scalars, {
      'a/value': values.map((v, step) => expected(step, v, t0 + step * 1000)),
      'b/twice': values.map((v, step) => expected(step, 2 * v, t0 + step * 1000)),
    });
  });

  it('the recorder: one run per job (<jobName>-<jobId>, or the topology\'s run name, or none), every tag, steps continued after a reopen', async (t) => {
    const read = tensorBoardReader(t);
    if (!read) return;
    const logDir = join(root, 'recorder');
    const settings: Record<string, TensorBoardSpec | undefined> = { 'id-a': undefined, 'id-b': { run: 'named-run' }, 'id-c': false };
    const settingOf = async (jobId: string): Promise<TensorBoardSpec | undefined> => settings[jobId];
    const recorder = new TensorBoardRecorder({ dir: logDir, logger: silent, settingOf, flushIntervalMs: 60_000 });
    const t0 = 1_760_000_100_000;
    for (let i = 0; i < 3; i++) {
      const at = t0 + i * 1000;
      recorder.record(sample('id-a', 'job-a', at, i, i === 1 ? { latencyP50Ms: null, latencyP90Ms: null, latencyP99Ms: null, meanBatchSize: null } : {}));
      recorder.record(sample('id-b', 'job-b', at, i));
      recorder.record(sample('id-c', 'job-c', at, i));
    }
    await recorder.close();

    // A second recorder on the same directory (a restarted JobManager) continues the run's steps.
    const again = new TensorBoardRecorder({ dir: logDir, logger: silent, settingOf, flushIntervalMs: 60_000 });
    again.record(sample('id-a', 'job-a', t0 + 3000, 3));
    await again.close(); // writes what it was sent, even while the run is still opening

    const { runs } = read(logDir);
    assert.deepEqual(Object.keys(runs), ['job-a-id-a', 'named-run'], 'job-c has tensorboard: false');
    const a = runs['job-a-id-a']!.scalars;
    assert.deepEqual(Object.keys(a).sort(), [
      'batch/mean_size',
      'errors/by_code/CS_ERR_POISON',
      'errors/by_code/CS_ERR_SHAPE',
      'errors/per_sec',
      'errors/total',
      'latency/p50_ms',
      'latency/p90_ms',
      'latency/p99_ms',
      'queue/lag',
      'queue/pending',
      'requests/total',
      'throughput/requests_per_sec',
    ]);
    const steps = [0, 1, 2, 3];
    const at = (i: number): number => t0 + i * 1000;
    assert.deepEqual(a['throughput/requests_per_sec'], steps.map((i) => expected(i, 100 + i, at(i))));
    assert.deepEqual(a['errors/per_sec'], steps.map((i) => expected(i, i / 2, at(i))));
    assert.deepEqual(a['errors/total'], steps.map((i) => expected(i, 3 * i, at(i))));
    assert.deepEqual(a['requests/total'], steps.map((i) => expected(i, 1000 * (i + 1), at(i))));
    assert.deepEqual(a['queue/lag'], steps.map((i) => expected(i, 10 * i, at(i))));
    assert.deepEqual(a['queue/pending'], steps.map((i) => expected(i, i, at(i))));
    // Step 1 had no latency or batch figures (nothing served): those charts skip it.
    const served = [0, 2, 3];
    assert.deepEqual(a['latency/p50_ms'], served.map((i) => expected(i, 1.5 + i, at(i))));
    assert.deepEqual(a['latency/p90_ms'], served.map((i) => expected(i, 2.25 + i, at(i))));
    assert.deepEqual(a['latency/p99_ms'], served.map((i) => expected(i, 9.75 + i, at(i))));
    assert.deepEqual(a['batch/mean_size'], served.map((i) => expected(i, 4 + i / 4, at(i))));
    assert.deepEqual(a['errors/by_code/CS_ERR_SHAPE'], [1, 2, 3].map((i) => expected(i, 2 * i, at(i))));
    assert.deepEqual(a['errors/by_code/CS_ERR_POISON'], [1, 2, 3].map((i) => expected(i, i, at(i))));

    const b = runs['named-run']!.scalars;
    assert.deepEqual(b['throughput/requests_per_sec'], [0, 1, 2].map((i) => expected(i, 100 + i, at(i))));
    assert.deepEqual(b['latency/p99_ms'], [0, 1, 2].map((i) => expected(i, 9.75 + i, at(i))));
    assert.equal((await readdir(join(logDir, 'job-a-id-a'))).length, 2, 'the reopened run got a file of its own');
  });
});
