import type { HeartbeatResponse, RunningSubtask, SubtaskAssignment } from '../src/cluster-api/dto';
import type { JobManagerClient } from '../src/cluster-api/jobmanager-client';
import { toClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';

/** What a {@link Heartbeat} needs. */
export interface HeartbeatOptions {
  readonly client: JobManagerClient;
  readonly taskManagerId: string;
  /** As the JobManager said at registration. */
  readonly intervalMs: number;
  /** What to report. */
  readonly running: () => RunningSubtask[];
  /** The desired set from each answer. */
  readonly onAssignments: (assignments: readonly SubtaskAssignment[]) => void;
  /** The JobManager no longer knows this TaskManager: register again (resolves once registered). */
  readonly onUnknown: () => Promise<void>;
  readonly logger: Logger;
}

/**
 * The TaskManager's periodic heartbeat: every `intervalMs` it reports what runs and hands the answer's
 * full desired set to the slots. When the JobManager cannot be reached the subtasks keep running as they
 * are and the heartbeat keeps trying (SPEC §6: a JobManager restart interrupts no running job). When the
 * JobManager answers `known: false` the TaskManager registers again and beats at once; the subtasks are
 * left alone until a known answer says what to run. Beats never overlap.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Sends the first heartbeat now, then one every interval. */
  start(): void {
    if (this.stopped || this.inFlight || this.timer) return;
    this.tick();
  }

  /** Beats now (next one an interval later); resolves when this beat is done. */
  beatNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.inFlight) this.tick();
    return this.inFlight ?? Promise.resolve();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    this.inFlight = this.beat().finally(() => {
      this.inFlight = undefined;
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.options.intervalMs);
    });
  }

  private async beat(): Promise<void> {
    const { client, taskManagerId, logger } = this.options;
    let response: HeartbeatResponse;
    try {
      response = await client.heartbeat(taskManagerId, { running: this.options.running() });
    } catch (err) {
      this.failures += 1;
      const error = toClusterServingError(err);
      const level = this.failures === 1 || this.failures % 30 === 0 ? 'warn' : 'debug';
      logger[level]({ failures: this.failures, reason: error.message, running: this.options.running().length }, 'taskmanager.heartbeat.failed');
      return;
    }
    if (this.failures > 0) logger.info({ failures: this.failures }, 'taskmanager.heartbeat.restored');
    this.failures = 0;
    if (this.stopped) return;
    if (!response.known) {
      logger.warn('taskmanager.heartbeat.unknown');
      try {
        await this.options.onUnknown();
      } catch (err) {
        logger.warn({ reason: toClusterServingError(err).message }, 'taskmanager.reregistration.failed');
        return;
      }
      if (!this.stopped) await this.beat();
      return;
    }
    try {
      this.options.onAssignments(response.assignments);
    } catch (err) {
      logger.error({ err }, 'taskmanager.heartbeat.apply.failed');
    }
  }

  /** Stops beating; resolves once a beat in flight has finished. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
