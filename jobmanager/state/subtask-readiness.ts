import type { RunningSubtask, SubtaskStatus } from '../../src/cluster-api/dto';
import type { JobRecord } from './job-store';

/** One subtask of one job. */
function key(jobId: string, subtaskIndex: number): string {
  return `${jobId}/${subtaskIndex}`;
}

/**
 * Which subtasks can serve, as their TaskManagers said in their last heartbeats (`RunningSubtask.ready`:
 * the model is loaded and the subtask reads its splits). Kept in memory: a restarted JobManager learns it
 * again from the next heartbeat of each TaskManager (one interval), and until a TaskManager has been
 * heard from, its subtasks count as unknown, not as starting, so a restart changes no job's shown state.
 *
 * A report counts only for the assignment it is about: the subtask's TaskManager and, when the JobManager
 * fences, its epoch (a subtask moved away and back, or to another TaskManager, is starting again).
 */
export class SubtaskReadiness {
  /** Per TaskManager, its ready subtasks (`job/index`) with the epoch each reported (null: none given). */
  private readonly byTaskManager = new Map<string, Map<string, number | null>>();

  /**
   * Replaces what `taskManagerId` reported. Answers true when a subtask became ready that was not before
   * (the scheduler may then promote a CREATED job to RUNNING at once).
   */
  record(taskManagerId: string, running: readonly RunningSubtask[]): boolean {
    const before = this.byTaskManager.get(taskManagerId);
    const now = new Map<string, number | null>();
    let newlyReady = false;
    for (const r of running) {
      if (r.ready !== true || r.failure !== undefined) continue;
      const k = key(r.jobId, r.subtaskIndex);
      const epoch = r.epoch ?? null;
      now.set(k, epoch);
      if (!before || !before.has(k) || before.get(k) !== epoch) newlyReady = true;
    }
    this.byTaskManager.set(taskManagerId, now);
    return newlyReady;
  }

  /** Forgets a TaskManager that left or was declared lost. */
  forget(taskManagerId: string): void {
    this.byTaskManager.delete(taskManagerId);
  }

  /**
   * Whether the subtask, as assigned now, can serve: true or false once its TaskManager has reported
   * since this JobManager started, undefined before (and false when it has no TaskManager).
   */
  isReady(jobId: string, subtask: SubtaskStatus): boolean | undefined {
    if (subtask.taskManagerId === null) return false;
    const reports = this.byTaskManager.get(subtask.taskManagerId);
    if (!reports) return undefined;
    const k = key(jobId, subtask.index);
    if (!reports.has(k)) return false;
    const epoch = reports.get(k) ?? null;
    return subtask.epoch === undefined || epoch === null || epoch === subtask.epoch;
  }

  /** The subtasks of an active job that run somewhere and cannot serve yet, as one line; undefined when none. */
  starting(job: JobRecord): string | undefined {
    const lines: string[] = [];
    for (const s of job.subtasks) {
      if (s.splits.length === 0) continue;
      if (s.taskManagerId === null) lines.push(`subtask ${s.index} waits for a free TaskManager slot`);
      else if (this.isReady(job.id, s) === false) lines.push(`subtask ${s.index} is starting on ${s.taskManagerId} (loading its model, joining its splits)`);
    }
    return lines.length > 0 ? lines.join('; ') : undefined;
  }

  /**
   * Why a RUNNING job serves nothing right now: none of its subtasks is ready (each is starting again
   * after a move or a rescale, or waits for a slot). Undefined while at least one serves, or may (not
   * heard from yet).
   */
  noneServing(job: JobRecord): string | undefined {
    const scheduled = job.subtasks.filter((s) => s.splits.length > 0);
    if (scheduled.length === 0 || scheduled.some((s) => this.isReady(job.id, s) !== false)) return undefined;
    return `no subtask can serve yet: ${this.starting(job) ?? 'none is ready'}`;
  }
}
