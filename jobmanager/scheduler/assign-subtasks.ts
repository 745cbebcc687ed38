import type { JobState, SubtaskStatus } from '../../src/cluster-api/dto';
import { spreadSplits, type SplitSharing } from './spread-splits';

/** A job as the scheduler sees it. */
export interface SchedulerJob {
  readonly id: string;
  readonly state: JobState;
  readonly parallelism: number;
  readonly splits: readonly string[];
  readonly sharing: SplitSharing;
  /** The current assignment (from the last run); a subtask missing here is unassigned. */
  readonly subtasks: readonly SubtaskStatus[];
}

/** A registered TaskManager as the scheduler sees it. */
export interface SchedulerTaskManager {
  readonly id: string;
  readonly slots: number;
  /** ms since epoch */
  readonly lastHeartbeat: number;
}

/** Everything {@link assignSubtasks} decides from. */
export interface AssignmentInput {
  /** In submission order: earlier jobs get free slots first. */
  readonly jobs: readonly SchedulerJob[];
  readonly taskManagers: readonly SchedulerTaskManager[];
  /** ms since epoch */
  readonly now: number;
  /** A TaskManager whose last heartbeat is older than this loses its subtasks. */
  readonly heartbeatTimeoutMs: number;
  /**
   * No heartbeat is expected before this time (ms since epoch): a JobManager that just (re)started
   * counts every TaskManager as heard from at its start, so its own downtime expires no one.
   */
  readonly notBefore?: number;
  /**
   * Whether a subtask, as currently assigned (its TaskManager and epoch), reported that it can serve. A
   * CREATED job becomes RUNNING only when every scheduled subtask stays where it is and is ready.
   * Without it, a job becomes RUNNING as soon as every subtask is assigned.
   */
  readonly ready?: (jobId: string, subtask: SubtaskStatus) => boolean;
}

/** The desired assignment of one job. */
export interface JobAssignment {
  readonly state: JobState;
  readonly subtasks: readonly SubtaskStatus[];
}

/** What {@link assignSubtasks} decided. */
export interface AssignmentResult {
  /** Every input job, by id. */
  readonly jobs: ReadonlyMap<string, JobAssignment>;
  /** TaskManagers past the heartbeat timeout: they were given nothing. */
  readonly expired: readonly string[];
}

function isActive(state: JobState): boolean {
  return state === 'CREATED' || state === 'RUNNING';
}

/**
 * Assigns the subtasks of every active job (CREATED or RUNNING) to TaskManager slots. Pure: same
 * input, same output.
 *
 * 1. A job's splits are spread round-robin over its `parallelism` subtasks ({@link spreadSplits}); a
 *    subtask left without splits is not scheduled.
 * 2. A subtask stays where it runs while that TaskManager is alive and has the slot (sticky: no
 *    needless moves). After a rescale (a new `parallelism`) the splits are spread anew: subtasks that
 *    remain keep their TaskManager even when their splits changed (it restarts them with the new
 *    splits), subtasks past the new parallelism are dropped, and new ones are placed as in 3. Other jobs'
 *    subtasks never move for it: every running subtask keeps its slot before anything is placed.
 * 3. The other subtasks go, in job order then subtask order, to the alive TaskManager with the most
 *    free slots (ties: one running fewer subtasks of this job, then the smaller id), so a job spreads out.
 * 4. A TaskManager whose last heartbeat is older than `heartbeatTimeoutMs` is expired: its subtasks
 *    are reassigned to the others.
 * 5. A CREATED job becomes RUNNING once all its scheduled subtasks are assigned and (with `ready`)
 *    each reported ready where it is assigned; CANCELED and FAILED jobs keep their splits but no TaskManager.
 */
export function assignSubtasks(input: AssignmentInput): AssignmentResult {
  const notBefore = input.notBefore ?? 0;
  const alive = input.taskManagers
    .filter((tm) => input.now - Math.max(tm.lastHeartbeat, notBefore) <= input.heartbeatTimeoutMs)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const aliveIds = new Set(alive.map((tm) => tm.id));
  const expired = input.taskManagers.filter((tm) => !aliveIds.has(tm.id)).map((tm) => tm.id);
  const free = new Map(alive.map((tm) => [tm.id, tm.slots]));

  interface Draft {
    readonly index: number;
    readonly splits: readonly string[];
    taskManagerId: string | null;
  }
  const drafts = new Map<string, Draft[]>();
  for (const job of input.jobs) {
    const spread = spreadSplits(job.splits, job.parallelism, job.sharing);
    drafts.set(job.id, spread.map((splits, index) => ({ index, splits, taskManagerId: null })));
  }

  // Pass 1: keep subtasks where they run.
  for (const job of input.jobs) {
    if (!isActive(job.state)) continue;
    const draft = drafts.get(job.id)!;
    for (const current of job.subtasks) {
      const d = draft[current.index];
      const tm = current.taskManagerId;
      if (!d || d.splits.length === 0 || tm === null || d.taskManagerId !== null) continue;
      const slots = free.get(tm);
      if (slots !== undefined && slots > 0) {
        d.taskManagerId = tm;
        free.set(tm, slots - 1);
      }
    }
  }

  // Pass 2: place the rest.
  for (const job of input.jobs) {
    if (!isActive(job.state)) continue;
    const draft = drafts.get(job.id)!;
    const perTm = new Map<string, number>();
    for (const d of draft) if (d.taskManagerId !== null) perTm.set(d.taskManagerId, (perTm.get(d.taskManagerId) ?? 0) + 1);
    for (const d of draft) {
      if (d.taskManagerId !== null || d.splits.length === 0) continue;
      let best: string | undefined;
      for (const tm of alive) {
        const slots = free.get(tm.id)!;
        if (slots <= 0) continue;
        if (best === undefined) {
          best = tm.id;
          continue;
        }
        const bestSlots = free.get(best)!;
        if (slots > bestSlots || (slots === bestSlots && (perTm.get(tm.id) ?? 0) < (perTm.get(best) ?? 0))) best = tm.id;
      }
      if (best === undefined) break;
      d.taskManagerId = best;
      free.set(best, free.get(best)! - 1);
      perTm.set(best, (perTm.get(best) ?? 0) + 1);
    }
  }

  const jobs = new Map<string, JobAssignment>();
  for (const job of input.jobs) {
    const draft = drafts.get(job.id)!;
    const scheduled = draft.filter((d) => d.splits.length > 0);
    const complete = scheduled.length > 0 && scheduled.every((d) => d.taskManagerId !== null);
    const ready = (d: Draft): boolean => {
      if (!input.ready) return true;
      const current = job.subtasks.find((s) => s.index === d.index);
      // Moved, or given other splits (a rescale): it restarts, and an earlier report is not about it.
      const same = current !== undefined && current.taskManagerId === d.taskManagerId && current.splits.join('\n') === d.splits.join('\n');
      return same && input.ready(job.id, current);
    };
    const state: JobState = job.state === 'CREATED' && complete && scheduled.every(ready) ? 'RUNNING' : job.state;
    jobs.set(job.id, {
      state,
      subtasks: draft.map((d) => ({ index: d.index, taskManagerId: isActive(job.state) ? d.taskManagerId : null, splits: [...d.splits] })),
    });
  }
  return { jobs, expired };
}
