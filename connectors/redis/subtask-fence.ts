import { fencesKey } from '../../src/cluster-api/keys';
import { ClusterServingError } from '../../src/errors';

/**
 * The epoch a subtask was assigned with, and where the JobManager keeps the current one: the field
 * `<subtask index>` of the job's fence hash (`fencesKey(jobId)`). A writer whose epoch is older than the
 * stored one is stale (its subtask moved to another TaskManager): the sink's scripts refuse its writes and
 * the source stops claiming for it.
 */
export interface SubtaskFence {
  readonly jobId: string;
  readonly subtaskIndex: number;
  readonly epoch: number;
}

/**
 * The fence hash key, the subtask's field in it and its epoch, as the Lua scripts take them; unfenced:
 * `placeholderKey` (a key of the job, never read) and an empty epoch.
 */
export function fenceArgs(fence: SubtaskFence | undefined, placeholderKey: string): { key: string; field: string; epoch: string } {
  if (!fence) return { key: placeholderKey, field: '', epoch: '' };
  return { key: fencesKey(fence.jobId), field: String(fence.subtaskIndex), epoch: String(fence.epoch) };
}

/** Whether a stored epoch (HGET of the fence hash) makes `fence` stale. */
export function isStale(fence: SubtaskFence | undefined, stored: string | null): boolean {
  return fence !== undefined && stored !== null && Number(stored) > fence.epoch;
}

/** The error of a stale writer: it must stop its subtask. */
export function fencedError(fence: SubtaskFence, current: string | number, what: string): ClusterServingError {
  return new ClusterServingError('CS_ERR_FENCED', `fenced: subtask ${fence.subtaskIndex} of job ${fence.jobId} was assigned epoch ${fence.epoch}, the JobManager is at ${String(current)}; ${what} refused, stop this subtask`, { context: { jobId: fence.jobId } });
}

/** Whether an error is a stale writer's refusal. */
export function isFenced(err: unknown): boolean {
  return err instanceof ClusterServingError && err.code === 'CS_ERR_FENCED';
}
