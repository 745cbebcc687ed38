import type Redis from 'ioredis';
import { createRedis } from '../src/redis/create-redis';
import type { SplitCheckpoint } from '../src/cluster-api/dto';
import { checkpointsKey } from '../src/cluster-api/keys';
import type { Logger } from '../src/logging/logger';
import { CheckpointTracker } from './checkpoint-tracker';

/** How often a subtask records its checkpoints at most (ms). */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;

export interface CheckpointRecorderOptions {
  /** The cluster's Redis, where the JobManager reads them. */
  readonly redisUrl: string;
  /** The cluster the job belongs to (its keys live under it). */
  readonly cluster: string;
  readonly jobId: string;
  readonly subtaskIndex: number;
  readonly taskManagerId: string;
  /** @default DEFAULT_CHECKPOINT_INTERVAL_MS */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

/**
 * Records a subtask's checkpoints (see {@link CheckpointTracker}) in Redis: `HSET
 * cs:{<cluster>}:job:<id>:checkpoints <split> <JSON SplitCheckpoint>`, at most once per interval while results are
 * written, and once more on close. A failed write is logged and retried with the next change or on
 * close; checkpoints are for progress reports, so losing one delays nothing.
 */
export class CheckpointRecorder {
  readonly tracker = new CheckpointTracker();
  private readonly redis: Redis;
  private readonly intervalMs: number;
  private readonly recorded = new Map<string, string>();
  private lastFlushAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: CheckpointRecorderOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    this.redis = createRedis(options.redisUrl, { label: `cs-checkpoints-${options.jobId}-${options.subtaskIndex}`, lazyConnect: true, maxRetriesPerRequest: null, connectionName: `cs-checkpoints-${options.jobId}-${options.subtaskIndex}` });
    this.redis.on('error', () => undefined); // ioredis reconnects; flush() logs failures
  }

  async start(): Promise<void> {
    await this.redis.connect();
  }

  /** Results of these entries are written: move the checkpoints and schedule recording them. */
  written(refs: Iterable<{ readonly split: string; readonly entryId: string }>): void {
    for (const r of refs) this.tracker.written(r.split, r.entryId);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const delay = Math.max(0, this.lastFlushAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
    this.timer.unref();
  }

  /** Records the checkpoints that changed since the last recording (one at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    const changed = [...this.tracker.checkpoints()].filter(([split, offset]) => this.recorded.get(split) !== offset);
    if (changed.length === 0) return;
    this.lastFlushAt = Date.now();
    const fields: string[] = [];
    for (const [split, offset] of changed) {
      const value: SplitCheckpoint = { split, offset, subtaskIndex: this.options.subtaskIndex, taskManagerId: this.options.taskManagerId, updatedAt: this.lastFlushAt };
      fields.push(split, JSON.stringify(value));
    }
    try {
      await this.redis.hset(checkpointsKey(this.options.cluster, this.options.jobId), ...fields);
      for (const [split, offset] of changed) this.recorded.set(split, offset);
    } catch (err) {
      this.options.logger.warn({ err, jobId: this.options.jobId, subtask: this.options.subtaskIndex }, 'taskmanager.checkpoint.write_failed');
    }
  }

  /** Records the last checkpoints and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.redis.status !== 'ready') return this.redis.disconnect();
    await this.flush();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
