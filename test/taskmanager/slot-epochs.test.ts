import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SubtaskAssignment } from '../../src/cluster-api/dto';
import { createLogger } from '../../src/logging/logger';
import { SlotTable, type SubtaskHandle } from '../../taskmanager/slot-table';
import type { SubtaskRunnerOptions } from '../../taskmanager/subtask-runner';
import { waitFor } from '../support/wait-for';

interface Run {
  readonly options: SubtaskRunnerOptions;
  started: boolean;
  closed: { force: boolean } | undefined;
}

describe('SlotTable and subtask epochs', () => {
  let cacheDir: string;
  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'cs-slot-epochs-'));
  });
  after(() => rm(cacheDir, { recursive: true, force: true }));

  function table(runs: Run[]): SlotTable {
    return new SlotTable({
      taskManagerId: 'tm-me',
      slots: 2,
      redisUrl: 'redis://127.0.0.1:1',
      cacheDir,
      fetchTopology: (jobId) => Promise.resolve({ filename: `${jobId}.yaml`, source: `name: ${jobId}\nsource: { type: redis }\nmodel: { path: /srv/model.onnx }\n`, baseDir: '/srv' }),
      logger: createLogger('test', 'silent'),
      createRunner: (options): SubtaskHandle => {
        const run: Run = { options, started: false, closed: undefined };
        runs.push(run);
        return {
          start: async () => {
            run.started = true;
          },
          close: async (o) => {
            run.closed = { force: o?.force === true };
          },
        };
      },
    });
  }

  const assignment = (epoch: number): SubtaskAssignment => ({ jobId: 'job1', jobName: 'job1', subtaskIndex: 0, splits: ['s'], epoch });

  it('runs a subtask with its epoch, restarts it when the epoch changes, and takes over only earlier holders of the same subtask', async () => {
    const runs: Run[] = [];
    const slots = table(runs);
    try {
      slots.apply([assignment(1)]);
      await waitFor(() => runs[0]?.started, { what: 'first runner started' });
      const first = runs[0]!.options;
      assert.equal(first.epoch, 1);
      assert.equal(first.consumerName, 'tm-me-job1-0');
      assert.deepEqual(['tm-old-job1-0', 'tm-me-job1-0', 'tm-old-job1-1', 'tm-old-job2-0'].map((c) => first.takeOver?.(c)), [true, false, false, false]);
      slots.apply([assignment(1)]);
      assert.equal(runs.length, 1, 'same epoch: nothing restarts');
      slots.apply([assignment(3)]);
      await waitFor(() => runs[1]?.started, { what: 'second runner started' });
      assert.deepEqual(runs[0]!.closed, { force: false }, 'the old one finished gracefully');
      assert.equal(runs[1]!.options.epoch, 3);
    } finally {
      await slots.close({ force: true });
    }
  });

  it('closes a fenced subtask at once (dropping its in-flight work) and stops reporting it', async () => {
    const runs: Run[] = [];
    const slots = table(runs);
    try {
      slots.apply([assignment(1)]);
      await waitFor(() => runs[0]?.started, { what: 'runner started' });
      assert.equal(slots.running().length, 1);
      runs[0]!.options.onFenced?.();
      assert.equal(slots.running().length, 0);
      await waitFor(() => runs[0]!.closed, { what: 'fenced runner closed' });
      assert.deepEqual(runs[0]!.closed, { force: true });
      // The next heartbeat brings the subtask back only with a newer epoch.
      slots.apply([assignment(2)]);
      await waitFor(() => runs[1]?.started, { what: 'restarted with the new epoch' });
      assert.equal(runs[1]!.options.epoch, 2);
    } finally {
      await slots.close({ force: true });
    }
  });
});
