import type { SubtaskStatus } from '../../src/cluster-api/dto';

/**
 * Carries each subtask's epoch from the current assignment (`before`) into the next one (`after`, as
 * assignSubtasks decided it), one more wherever the subtask's TaskManager changes: assigned, moved to
 * another TaskManager, or unassigned. A writer holding an older epoch is then fenced (the sink's script
 * refuses it), so at most one TaskManager at a time writes a subtask's results. `floor` holds the
 * epochs already stored for subtasks missing from `before` (dropped by a rescale down, now back): a new
 * epoch is above it, so epochs never go back. Pure.
 */
export function withEpochs(before: readonly SubtaskStatus[], after: readonly SubtaskStatus[], floor: ReadonlyMap<number, number> = new Map()): SubtaskStatus[] {
  return after.map((s) => {
    const previous = before.find((b) => b.index === s.index);
    const last = Math.max(previous?.epoch ?? 0, floor.get(s.index) ?? 0);
    const epoch = (previous?.taskManagerId ?? null) === s.taskManagerId ? previous?.epoch : last + 1;
    const { epoch: _ignored, ...rest } = s;
    return epoch === undefined ? rest : { ...rest, epoch };
  });
}
