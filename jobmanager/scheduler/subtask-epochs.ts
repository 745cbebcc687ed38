import type { SubtaskStatus } from '../../src/cluster-api/dto';

/**
 * Carries each subtask's epoch from the current assignment (`before`) into the next one (`after`, as
 * assignSubtasks decided it), one more wherever the subtask's TaskManager changes: assigned, moved to
 * another TaskManager, or unassigned. A writer holding an older epoch is then fenced (the sink's script
 * refuses it), so at most one TaskManager at a time writes a subtask's results. Pure.
 */
export function withEpochs(before: readonly SubtaskStatus[], after: readonly SubtaskStatus[]): SubtaskStatus[] {
  return after.map((s) => {
    const previous = before.find((b) => b.index === s.index);
    const epoch = (previous?.taskManagerId ?? null) === s.taskManagerId ? previous?.epoch : (previous?.epoch ?? 0) + 1;
    const { epoch: _ignored, ...rest } = s;
    return epoch === undefined ? rest : { ...rest, epoch };
  });
}
