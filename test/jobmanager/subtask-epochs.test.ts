import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { withEpochs } from '../../jobmanager/scheduler/subtask-epochs';

describe('withEpochs', () => {
  it('starts at 1 when a subtask is first assigned and stays while it keeps its TaskManager', () => {
    const first = withEpochs([], [{ index: 0, taskManagerId: 'tm-a', splits: ['s'] }, { index: 1, taskManagerId: null, splits: ['t'] }]);
    assert.deepEqual(first, [{ index: 0, taskManagerId: 'tm-a', splits: ['s'], epoch: 1 }, { index: 1, taskManagerId: null, splits: ['t'] }]);
    const again = withEpochs(first, [{ index: 0, taskManagerId: 'tm-a', splits: ['s', 'u'] }, { index: 1, taskManagerId: null, splits: ['t'] }]);
    assert.deepEqual(again.map((s) => s.epoch), [1, undefined], 'a rescale on the same TaskManager keeps the epoch');
  });

  it('increments on every change of TaskManager: moved, unassigned, and assigned back to the same one', () => {
    let subtasks = withEpochs([], [{ index: 0, taskManagerId: 'tm-a', splits: ['s'] }]);
    const seen: (number | undefined)[] = [subtasks[0]!.epoch];
    for (const tm of ['tm-b', null, 'tm-b', 'tm-b', 'tm-a']) {
      subtasks = withEpochs(subtasks, [{ index: 0, taskManagerId: tm, splits: ['s'] }]);
      seen.push(subtasks[0]!.epoch);
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 4, 5]);
  });

  it('ignores an epoch in the decided assignment: only the previous one counts', () => {
    const next = withEpochs([{ index: 0, taskManagerId: 'tm-a', splits: ['s'], epoch: 7 }], [{ index: 0, taskManagerId: 'tm-b', splits: ['s'], epoch: 1 }]);
    assert.equal(next[0]!.epoch, 8);
  });

  it('starts above the stored epoch of a subtask that comes back after a rescale down', () => {
    const next = withEpochs([{ index: 0, taskManagerId: 'tm-a', splits: ['s'], epoch: 2 }], [{ index: 0, taskManagerId: 'tm-a', splits: ['s'] }, { index: 1, taskManagerId: 'tm-b', splits: ['t'] }], new Map([[1, 6]]));
    assert.deepEqual(next.map((s) => s.epoch), [2, 7]);
  });
});
