import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { JobState, SubtaskStatus } from '../../src/cluster-api/dto';
import { assignSubtasks, type AssignmentInput, type SchedulerJob, type SchedulerTaskManager } from '../../jobmanager/scheduler/assign-subtasks';
import { spreadSplits } from '../../jobmanager/scheduler/spread-splits';

const NOW = 1_000_000;
const TIMEOUT = 10_000;

function job(id: string, options: { parallelism?: number; splits?: string[]; state?: JobState; sharing?: 'share' | 'exclusive'; subtasks?: SubtaskStatus[] } = {}): SchedulerJob {
  return {
    id,
    state: options.state ?? 'CREATED',
    parallelism: options.parallelism ?? 1,
    splits: options.splits ?? [id],
    sharing: options.sharing ?? 'share',
    subtasks: options.subtasks ?? [],
  };
}

function tm(id: string, slots: number, lastHeartbeat = NOW): SchedulerTaskManager {
  return { id, slots, lastHeartbeat };
}

function run(input: Partial<AssignmentInput> & Pick<AssignmentInput, 'jobs' | 'taskManagers'>) {
  return assignSubtasks({ now: NOW, heartbeatTimeoutMs: TIMEOUT, ...input });
}

/** TaskManager of each subtask of one job. */
function placement(result: ReturnType<typeof assignSubtasks>, jobId: string): (string | null)[] {
  return result.jobs.get(jobId)!.subtasks.map((s) => s.taskManagerId);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe('spreadSplits', () => {
  it('deals splits round-robin over the subtasks', () => {
    assert.deepEqual(spreadSplits(['s:0', 's:1', 's:2', 's:3', 's:4'], 2, 'exclusive'), [['s:0', 's:2', 's:4'], ['s:1', 's:3']]);
    assert.deepEqual(spreadSplits(['s:0', 's:1'], 2, 'share'), [['s:0'], ['s:1']]);
  });

  it('shares splits when there are fewer than subtasks and sharing is allowed', () => {
    assert.deepEqual(spreadSplits(['s'], 3, 'share'), [['s'], ['s'], ['s']]);
    assert.deepEqual(spreadSplits(['s:0', 's:1'], 3, 'share'), [['s:0'], ['s:1'], ['s:0']]);
  });

  it('leaves extra subtasks without splits when splits are exclusive', () => {
    assert.deepEqual(spreadSplits(['t:0'], 3, 'exclusive'), [['t:0'], [], []]);
  });
});

describe('assignSubtasks', () => {
  it('gives every subtask its round-robin splits and a TaskManager slot, then the job is RUNNING', () => {
    const result = run({ jobs: [job('a', { parallelism: 2, splits: ['a:0', 'a:1', 'a:2'] })], taskManagers: [tm('tm-1', 2)] });
    const a = result.jobs.get('a')!;
    assert.equal(a.state, 'RUNNING');
    assert.deepEqual(a.subtasks, [
      { index: 0, taskManagerId: 'tm-1', splits: ['a:0', 'a:2'] },
      { index: 1, taskManagerId: 'tm-1', splits: ['a:1'] },
    ]);
    assert.deepEqual(result.expired, []);
  });

  it('spreads a job over TaskManagers with free slots', () => {
    const result = run({ jobs: [job('a', { parallelism: 2, splits: ['a:0', 'a:1'] })], taskManagers: [tm('tm-1', 2), tm('tm-2', 2)] });
    assert.deepEqual(placement(result, 'a'), ['tm-1', 'tm-2']);
  });

  it('never puts more subtasks on a TaskManager than it has slots; a job short of slots stays CREATED', () => {
    const result = run({ jobs: [job('a', { parallelism: 3, splits: ['a:0', 'a:1', 'a:2'] })], taskManagers: [tm('tm-1', 1), tm('tm-2', 1)] });
    assert.deepEqual(placement(result, 'a'), ['tm-1', 'tm-2', null]);
    assert.equal(result.jobs.get('a')!.state, 'CREATED');
  });

  it('stays CREATED with no TaskManager at all', () => {
    const result = run({ jobs: [job('a')], taskManagers: [] });
    assert.deepEqual(placement(result, 'a'), [null]);
    assert.equal(result.jobs.get('a')!.state, 'CREATED');
  });

  it('serves jobs in submission order: an earlier job gets the free slots first', () => {
    const result = run({ jobs: [job('first'), job('second')], taskManagers: [tm('tm-1', 1)] });
    assert.deepEqual(placement(result, 'first'), ['tm-1']);
    assert.deepEqual(placement(result, 'second'), [null]);
  });

  it('keeps running subtasks where they are (sticky), even when another TaskManager has more free slots', () => {
    const current: SubtaskStatus[] = [{ index: 0, taskManagerId: 'tm-2', splits: ['a'] }];
    const result = run({ jobs: [job('a', { state: 'RUNNING', subtasks: current })], taskManagers: [tm('tm-1', 4), tm('tm-2', 1)] });
    assert.deepEqual(placement(result, 'a'), ['tm-2']);
  });

  it('does not let a new job take a slot that a running subtask holds', () => {
    const running = job('old', { state: 'RUNNING', subtasks: [{ index: 0, taskManagerId: 'tm-1', splits: ['old'] }] });
    // the new job is listed first on purpose: stickiness is decided before any new placement
    const result = run({ jobs: [job('new'), running], taskManagers: [tm('tm-1', 1)] });
    assert.deepEqual(placement(result, 'old'), ['tm-1']);
    assert.deepEqual(placement(result, 'new'), [null]);
  });

  it('moves the subtasks of a TaskManager past the heartbeat timeout to the others, and reports it expired', () => {
    const current: SubtaskStatus[] = [
      { index: 0, taskManagerId: 'tm-dead', splits: ['a:0'] },
      { index: 1, taskManagerId: 'tm-live', splits: ['a:1'] },
    ];
    const result = run({
      jobs: [job('a', { state: 'RUNNING', parallelism: 2, splits: ['a:0', 'a:1'], subtasks: current })],
      taskManagers: [tm('tm-dead', 2, NOW - TIMEOUT - 1), tm('tm-live', 2)],
    });
    assert.deepEqual(placement(result, 'a'), ['tm-live', 'tm-live']);
    assert.deepEqual(result.expired, ['tm-dead']);
  });

  it('keeps a TaskManager whose last heartbeat is exactly at the timeout', () => {
    const result = run({ jobs: [job('a')], taskManagers: [tm('tm-1', 1, NOW - TIMEOUT)] });
    assert.deepEqual(placement(result, 'a'), ['tm-1']);
    assert.deepEqual(result.expired, []);
  });

  it('unassigns the subtasks of an expired TaskManager when nobody else has a slot', () => {
    const current: SubtaskStatus[] = [{ index: 0, taskManagerId: 'tm-dead', splits: ['a'] }];
    const result = run({ jobs: [job('a', { state: 'RUNNING', subtasks: current })], taskManagers: [tm('tm-dead', 1, 0)] });
    assert.deepEqual(placement(result, 'a'), [null]);
    assert.equal(result.jobs.get('a')!.state, 'RUNNING');
  });

  it('counts no heartbeat as missed before notBefore (a restarted JobManager expires no one for its own downtime)', () => {
    const stale = tm('tm-1', 1, NOW - 5 * TIMEOUT);
    const current: SubtaskStatus[] = [{ index: 0, taskManagerId: 'tm-1', splits: ['a'] }];
    const result = run({ jobs: [job('a', { state: 'RUNNING', subtasks: current })], taskManagers: [stale], notBefore: NOW - 1000 });
    assert.deepEqual(placement(result, 'a'), ['tm-1']);
    assert.deepEqual(result.expired, []);
  });

  it('gives canceled and failed jobs no TaskManager, freeing their slots', () => {
    const canceled = job('gone', { state: 'CANCELED', subtasks: [{ index: 0, taskManagerId: 'tm-1', splits: ['gone'] }] });
    const failed = job('broken', { state: 'FAILED', subtasks: [{ index: 0, taskManagerId: 'tm-1', splits: ['broken'] }] });
    const result = run({ jobs: [canceled, failed, job('next')], taskManagers: [tm('tm-1', 1)] });
    assert.deepEqual(placement(result, 'gone'), [null]);
    assert.equal(result.jobs.get('gone')!.state, 'CANCELED');
    assert.deepEqual(placement(result, 'broken'), [null]);
    assert.equal(result.jobs.get('broken')!.state, 'FAILED');
    assert.deepEqual(placement(result, 'next'), ['tm-1']);
  });

  it('does not schedule subtasks left without splits (exclusive splits), and the job still runs', () => {
    const result = run({ jobs: [job('k', { parallelism: 3, splits: ['t:0'], sharing: 'exclusive' })], taskManagers: [tm('tm-1', 3)] });
    assert.deepEqual(placement(result, 'k'), ['tm-1', null, null]);
    assert.equal(result.jobs.get('k')!.state, 'RUNNING');
  });

  it('respects a TaskManager that came back with fewer slots', () => {
    const current: SubtaskStatus[] = [
      { index: 0, taskManagerId: 'tm-1', splits: ['a:0'] },
      { index: 1, taskManagerId: 'tm-1', splits: ['a:1'] },
    ];
    const result = run({ jobs: [job('a', { state: 'RUNNING', parallelism: 2, splits: ['a:0', 'a:1'], subtasks: current })], taskManagers: [tm('tm-1', 1), tm('tm-2', 1)] });
    assert.deepEqual(placement(result, 'a'), ['tm-1', 'tm-2']);
  });

  it('is pure: same input, same output, input untouched', () => {
    const input = deepFreeze({
      jobs: [job('a', { parallelism: 2, splits: ['a:0', 'a:1'], state: 'RUNNING', subtasks: [{ index: 1, taskManagerId: 'tm-2', splits: ['a:1'] }] }), job('b')],
      taskManagers: [tm('tm-1', 2), tm('tm-2', 1)],
      now: NOW,
      heartbeatTimeoutMs: TIMEOUT,
    });
    const first = assignSubtasks(input);
    const second = assignSubtasks(input);
    assert.deepEqual([...first.jobs], [...second.jobs]);
  });
});
