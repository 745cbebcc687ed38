import type { JobState, SubtaskStatus } from './dto';

/**
 * Whether a job serves a request sent now, as KServe model readiness, `cs job submit --wait`, `cs start`
 * and the clients' waitReady (through `<stream>:ready`) all see it: shown RUNNING (every subtask has
 * reported once that its model is loaded and it reads its splits, and no DEGRADED reason holds now),
 * with every subtask on a TaskManager.
 */
export function servesNow(state: JobState, subtasks: readonly SubtaskStatus[]): boolean {
  return state === 'RUNNING' && subtasks.length > 0 && subtasks.every((s) => s.taskManagerId !== null);
}
