import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { SubtaskStatus } from '../../src/cluster-api/dto';
import { assignSubtasks, type SchedulerJob, type SchedulerTaskManager } from '../../jobmanager/scheduler/assign-subtasks';

const NOW = 1_000_000;
const TIMEOUT = 10_000;

function tm(id: string, slots: number): SchedulerTaskManager {
  return { id, slots, lastHeartbeat: NOW };
}

/** A RUNNING job whose current assignment came from an earlier run; `parallelism` is the new one. */
function running(id: string, parallelism: number, splits: string[], subtasks: SubtaskStatus[], sharing: 'share' | 'exclusive' = 'share'): SchedulerJob {
  return { id, state: 'RUNNING', parallelism, splits, sharing, subtasks };
}

/** Runs the scheduler once from scratch, then again after the job's parallelism changed: what a rescale does. */
function rescale(before: SchedulerJob, to: number, others: SchedulerJob[], taskManagers: SchedulerTaskManager[]) {
  const first = assignSubtasks({ jobs: [before, ...others], taskManagers, now: NOW, heartbeatTimeoutMs: TIMEOUT });
  const settled = (j: SchedulerJob): SchedulerJob => ({ ...j, state: first.jobs.get(j.id)!.state, subtasks: first.jobs.get(j.id)!.subtasks });
  const rescaled: SchedulerJob = { ...settled(before), parallelism: to };
  const second = assignSubtasks({ jobs: [rescaled, ...others.map(settled)], taskManagers, now: NOW, heartbeatTimeoutMs: TIMEOUT });
  return { first, second };
}

describe('assignSubtasks after a rescale', () => {
  it('scales up: existing subtasks stay where they run, with their splits re-spread; new ones go to free slots', () => {
    const job = running('a', 2, ['a:0', 'a:1', 'a:2', 'a:3'], []);
    const { first, second } = rescale(job, 4, [], [tm('tm-1', 2), tm('tm-2', 2)]);
    assert.deepEqual(
      first.jobs.get('a')!.subtasks.map((s) => [s.taskManagerId, s.splits]),
      [
        ['tm-1', ['a:0', 'a:2']],
        ['tm-2', ['a:1', 'a:3']],
      ],
    );
    assert.deepEqual(second.jobs.get('a')!.subtasks, [
      { index: 0, taskManagerId: 'tm-1', splits: ['a:0'] },
      { index: 1, taskManagerId: 'tm-2', splits: ['a:1'] },
      { index: 2, taskManagerId: 'tm-1', splits: ['a:2'] },
      { index: 3, taskManagerId: 'tm-2', splits: ['a:3'] },
    ]);
    assert.equal(second.jobs.get('a')!.state, 'RUNNING');
  });

  it('scales down: the subtasks past the new parallelism are dropped and their splits go to the remaining ones, in place', () => {
    const job = running('a', 3, ['a:0', 'a:1', 'a:2'], []);
    const { first, second } = rescale(job, 1, [], [tm('tm-1', 1), tm('tm-2', 1), tm('tm-3', 1)]);
    assert.deepEqual(
      first.jobs.get('a')!.subtasks.map((s) => s.taskManagerId),
      ['tm-1', 'tm-2', 'tm-3'],
    );
    assert.deepEqual(second.jobs.get('a')!.subtasks, [{ index: 0, taskManagerId: 'tm-1', splits: ['a:0', 'a:1', 'a:2'] }]);
  });

  it('never changes another job: scaling up with too few free slots leaves the new subtasks unassigned', () => {
    const job = running('a', 1, ['a:0', 'a:1'], []);
    const other = running('b', 2, ['b:0', 'b:1'], []);
    const { first, second } = rescale(job, 2, [other], [tm('tm-1', 2), tm('tm-2', 1)]);
    assert.deepEqual(second.jobs.get('b'), first.jobs.get('b'), 'the other job keeps its assignment');
    const a = second.jobs.get('a')!;
    assert.deepEqual(a.subtasks[0], { index: 0, taskManagerId: first.jobs.get('a')!.subtasks[0]!.taskManagerId, splits: ['a:0'] });
    assert.deepEqual(a.subtasks[1], { index: 1, taskManagerId: null, splits: ['a:1'] });
    assert.equal(a.state, 'RUNNING', 'a running job stays RUNNING while a new subtask waits for a slot');
  });

  it('scaling down frees slots that a waiting job then gets, without moving anything else', () => {
    const job = running('a', 2, ['a:0', 'a:1'], []);
    const waiting: SchedulerJob = { id: 'w', state: 'CREATED', parallelism: 1, splits: ['w'], sharing: 'share', subtasks: [] };
    const { first, second } = rescale(job, 1, [waiting], [tm('tm-1', 2)]);
    assert.deepEqual(
      first.jobs.get('w')!.subtasks.map((s) => s.taskManagerId),
      [null],
    );
    assert.deepEqual(
      second.jobs.get('a')!.subtasks.map((s) => [s.taskManagerId, s.splits]),
      [['tm-1', ['a:0', 'a:1']]],
    );
    assert.deepEqual(
      second.jobs.get('w')!.subtasks.map((s) => s.taskManagerId),
      ['tm-1'],
    );
    assert.equal(second.jobs.get('w')!.state, 'RUNNING');
  });

  it('shares splits over more subtasks than splits (Redis), and leaves extra subtasks idle when exclusive (Kafka)', () => {
    const shared = rescale(running('r', 1, ['r'], []), 3, [], [tm('tm-1', 4)]);
    assert.deepEqual(
      shared.second.jobs.get('r')!.subtasks.map((s) => [s.taskManagerId, s.splits]),
      [
        ['tm-1', ['r']],
        ['tm-1', ['r']],
        ['tm-1', ['r']],
      ],
    );
    const exclusive = rescale(running('k', 1, ['t:0', 't:1'], [], 'exclusive'), 3, [], [tm('tm-1', 4)]);
    assert.deepEqual(
      exclusive.second.jobs.get('k')!.subtasks.map((s) => [s.taskManagerId, s.splits]),
      [
        ['tm-1', ['t:0']],
        ['tm-1', ['t:1']],
        [null, []],
      ],
    );
  });
});
