import type { Logger } from '../src/logging/logger';
import type { ControlPlane } from './control-plane';

/** How long finished jobs are kept when not configured: 1 h, as Flink's `jobstore.expiration-time`. */
export const DEFAULT_JOB_RETENTION_MS = 3_600_000;

/**
 * Removes finished (CANCELED or FAILED) jobs once they have been finished for `retentionMs` (`--job-retention`):
 * checks every half retention (at least every 60 s, at most every 0.5 s), so a job goes between one
 * retention and one retention plus a check interval after it finished. Active jobs are never removed.
 * `start()` and `close()` are idempotent; a check in progress finishes before `close()` resolves.
 */
export class JobRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly checkMs: number;

  constructor(
    private readonly control: Pick<ControlPlane, 'pruneFinished'>,
    private readonly retentionMs: number,
    private readonly logger: Logger,
  ) {
    this.checkMs = Math.min(60_000, Math.max(500, Math.floor(retentionMs / 2)));
  }

  start(): void {
    if (this.closed || this.timer) return;
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.check().finally(() => {
        if (!this.closed) this.schedule();
      });
    }, this.checkMs);
    this.timer.unref();
  }

  /** Removes the jobs finished longer than the retention ago; failures are logged and retried next check. */
  async check(): Promise<void> {
    try {
      for (const job of await this.control.pruneFinished(Date.now() - this.retentionMs)) {
        this.logger.info({ jobId: job.id, job: job.name, state: job.state, finishedAt: job.finishedAt, retentionMs: this.retentionMs }, 'jobmanager.job.pruned');
      }
    } catch (err) {
      this.logger.warn({ err }, 'jobmanager.job.prune_failed');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
