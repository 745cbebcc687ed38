import type { HealthReport, RunningSubtask } from '../src/cluster-api/dto';

/**
 * A TaskManager's `/readyz`: ready when it is registered with the JobManager and every subtask assigned
 * to it reports ready (`RunningSubtask.ready`: model loaded, reading its splits); otherwise the reasons,
 * one per subtask that is not.
 */
export function taskManagerReadiness(registered: boolean, running: readonly RunningSubtask[]): HealthReport {
  const reasons: string[] = [];
  if (!registered) reasons.push('not registered with the JobManager');
  for (const r of running) {
    if (r.ready === true && r.failure === undefined) continue;
    const why = r.failure !== undefined ? `failed: ${r.failure}` : r.readProblem !== undefined ? `not ready: ${r.readProblem}` : 'not ready yet';
    reasons.push(`subtask ${r.subtaskIndex} of job ${r.jobId} ${why}`);
  }
  return { ok: reasons.length === 0, reasons };
}
