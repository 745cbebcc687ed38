import Redis from 'ioredis';
import type { JobEvent } from '../src/cluster-api/dto';
import { jobCountersKey, jobEventsKey } from '../src/cluster-api/keys';
import type { Logger } from '../src/logging/logger';

/** Events kept per job (approximately: the stream is trimmed with MAXLEN ~). */
const EVENTS_KEPT = 100;

export interface JobEventRecorderOptions {
  /** The cluster's Redis, where the JobManager reads them. */
  readonly redisUrl: string;
  readonly cluster: string;
  readonly jobId: string;
  readonly logger: Logger;
}

/**
 * Records what happened to a job's splits so that `cs job status` and `GET /jobs/:id` show it: each event
 * is added to the capped stream `cs:{<cluster>}:job:<id>:events` and counted in the hash
 * `cs:{<cluster>}:job:<id>:counters` (one MULTI: both keys share the cluster's hash slot), and logged.
 * Connects on the first event only. A failed write is logged, never thrown: reporting must not stop
 * serving.
 */
export class JobEventRecorder {
  private redis: Redis | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: JobEventRecorderOptions) {}

  record(event: Omit<JobEvent, 'at'>): void {
    const { cluster, jobId, logger } = this.options;
    const at = Date.now();
    logger.warn({ event: event.kind, split: event.split, subtask: event.subtaskIndex, message: event.message }, `taskmanager.job_event.${event.kind}`);
    this.redis ??= this.connect();
    const redis = this.redis;
    const fields = ['at', String(at), 'kind', event.kind, 'split', event.split, 'subtaskIndex', String(event.subtaskIndex), 'taskManagerId', event.taskManagerId, 'message', event.message];
    this.writing = this.writing
      .then(() => redis.multi().xadd(jobEventsKey(cluster, jobId), 'MAXLEN', '~', EVENTS_KEPT, '*', ...fields).hincrby(jobCountersKey(cluster, jobId), event.kind, 1).exec())
      .then(
        () => undefined,
        (err: unknown) => logger.error({ err, event: event.kind }, 'taskmanager.job_event.record_failed'),
      );
  }

  private connect(): Redis {
    const redis = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null, connectionName: `cs-events-${this.options.jobId}` });
    redis.on('error', () => undefined); // ioredis reconnects; record() logs failures
    return redis;
  }

  /** Waits for the events recorded so far to be written, then disconnects. */
  async close(): Promise<void> {
    await this.writing;
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}
