import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { defaultRunName, TensorBoardRecorder, type TensorBoardSample } from '../../jobmanager/tensorboard-recorder';
import { lastEventStep } from '../../src/metrics/last-event-step';
import { decodeEvent } from '../../src/metrics/tf-event';
import { readRecords } from '../../src/metrics/tf-record';
import { TfEventsWriter } from '../../src/metrics/tfevents-writer';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cs-tbw-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A logger whose warnings the test reads. */
function capturingLogger(): { logger: pino.Logger; messages: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { logger, messages: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

function sample(jobId: string, i: number): TensorBoardSample {
  return {
    jobId,
    jobName: 'job',
    point: { at: 1_760_000_000_000 + i * 1000, requestsPerSec: i, errorsPerSec: 0, latencyP50Ms: null, latencyP90Ms: null, latencyP99Ms: null, meanBatchSize: null, lag: 0, pending: 0 },
    totals: { requests: i, errors: 0, errorsByCode: {} },
  };
}

describe('TfEventsWriter', () => {
  it('buffers: nothing touches the disk before a flush; the file starts with the version record', async () => {
    const dir = join(root, 'buffered');
    const writer = new TfEventsWriter({ dir, logger: pino({ level: 'silent' }), flushIntervalMs: 3_600_000 });
    writer.addScalars(0, [{ tag: 'x', value: 1 }]);
    writer.addScalars(1, [{ tag: 'x', value: 2 }]);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
    assert.equal(writer.path, undefined);
    await writer.flush();
    const { records, trailingBytes } = readRecords(await readFile(writer.path!));
    assert.equal(trailingBytes, 0);
    assert.deepEqual(records.map((r) => decodeEvent(r).fileVersion ?? decodeEvent(r).step), ['brain.Event:2', 0, 1]);
    writer.addScalars(2, [{ tag: 'x', value: 3 }]);
    await writer.close();
    writer.addScalars(3, [{ tag: 'x', value: 4 }]); // after close: ignored
    await writer.close();
    assert.equal(readRecords(await readFile(writer.path!)).records.length, 4);
    assert.equal(await lastEventStep(dir), 2);
  });

  it('a directory it cannot write: never throws, logs once, and writes everything once it can', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'a file where the run directory should be');
    const dir = join(blocker, 'run');
    const { logger, messages } = capturingLogger();
    const writer = new TfEventsWriter({ dir, logger, flushIntervalMs: 3_600_000 });
    for (let step = 0; step < 3; step++) {
      writer.addScalars(step, [{ tag: 'x', value: step }]);
      await writer.flush();
    }
    assert.deepEqual(messages(), ['tensorboard.write.failed'], 'one warning for three failed flushes');
    await rm(blocker);
    await writer.close();
    const { records } = readRecords(await readFile(writer.path!));
    assert.deepEqual(records.map((r) => decodeEvent(r).fileVersion ?? decodeEvent(r).step), ['brain.Event:2', 0, 1, 2]);
  });

  it('drops the oldest scalars, never the version record, past maxBufferedBytes', async () => {
    const dir = join(root, 'bounded');
    const writer = new TfEventsWriter({ dir, logger: pino({ level: 'silent' }), flushIntervalMs: 3_600_000, flushBytes: 1e9, maxBufferedBytes: 400 });
    for (let step = 0; step < 50; step++) writer.addScalars(step, [{ tag: 'x', value: step }]);
    await writer.close();
    const steps = readRecords(await readFile(writer.path!)).records.map((r) => decodeEvent(r).fileVersion ?? decodeEvent(r).step);
    assert.equal(steps[0], 'brain.Event:2');
    assert.equal(steps[steps.length - 1], 49);
    assert.ok(steps.length < 51, `some were dropped (${steps.length - 1} kept)`);
    assert.deepEqual(steps.slice(1), Array.from({ length: steps.length - 1 }, (_, i) => 50 - (steps.length - 1) + i), 'the newest ones are kept, in order');
  });
});

describe('lastEventStep', () => {
  it('finds the last step of a file larger than the tail it reads, and of one cut short mid-record', async () => {
    const dir = join(root, 'long-run');
    const writer = new TfEventsWriter({ dir, logger: pino({ level: 'silent' }), flushIntervalMs: 3_600_000 });
    const tags = Array.from({ length: 12 }, (_, i) => `group/tag_${i}`);
    for (let step = 0; step < 3000; step++) writer.addScalars(step, tags.map((tag, i) => ({ tag, value: step * i })));
    await writer.close();
    const bytes = await readFile(writer.path!);
    assert.ok(bytes.length > 512 * 1024, `${bytes.length} bytes: more than the 256 KiB tail`);
    assert.equal(await lastEventStep(dir), 2999);
    await writeFile(writer.path!, bytes.subarray(0, bytes.length - 7));
    assert.equal(await lastEventStep(dir), 2998, 'the cut record does not count');
    assert.equal(await lastEventStep(join(root, 'no-such-run')), undefined);
  });
});

describe('TensorBoardRecorder', () => {
  it('names a job\'s default run <jobName>-<jobId>, as one safe directory name', () => {
    assert.equal(defaultRunName('tiny', '0a1b'), 'tiny-0a1b');
    assert.equal(defaultRunName('a/b', '../x'), 'a-b-..-x');
  });

  it('refuses a run name that would leave the TensorBoard directory (one a validated topology cannot give)', async () => {
    const dir = join(root, 'confined');
    const { logger, messages } = capturingLogger();
    const runs: Record<string, string> = { up: '..', nested: 'a/b', absolute: '/tmp/elsewhere', fine: 'ok.run' };
    const recorder = new TensorBoardRecorder({ dir, logger, settingOf: async (id) => ({ run: runs[id]! }), flushIntervalMs: 3_600_000 });
    for (const id of Object.keys(runs)) recorder.record(sample(id, 0));
    await recorder.close();
    assert.deepEqual(await readdir(dir), ['ok.run']);
    assert.equal(messages().filter((m) => m === 'tensorboard.run.refused').length, 3);
  });

  it('a job whose setting cannot be read gets its default run; endJob closes a run and a later sample continues it', async () => {
    const dir = join(root, 'ended');
    const recorder = new TensorBoardRecorder({ dir, logger: pino({ level: 'silent' }), settingOf: () => Promise.reject(new Error('job gone')), flushIntervalMs: 3_600_000 });
    recorder.record(sample('j1', 0));
    recorder.record(sample('j1', 1));
    await recorder.endJob('j1');
    assert.equal(await lastEventStep(join(dir, 'job-j1')), 1);
    recorder.record(sample('j1', 2));
    await recorder.close();
    assert.equal(await lastEventStep(join(dir, 'job-j1')), 2);
    assert.equal((await readdir(join(dir, 'job-j1'))).length, 2);
  });
});
