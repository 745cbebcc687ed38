import type { Redis } from 'ioredis';
import type { JobState } from '../../src/cluster-api/dto';
import { streamReadyKey } from '../../src/cluster-api/keys';
import type { Logger } from '../../src/logging/logger';

/** One job as the readiness keys show it. */
export interface JobReadiness {
  readonly jobId: string;
  /** The data stream it claimed on the cluster's Redis; undefined for other sources. */
  readonly stream: string | undefined;
  /** ms since epoch */
  readonly submittedAt: number;
  /** As shown (DEGRADED included). */
  readonly state: JobState;
  /** Whether a request sent now is served (see servesNow in src/cluster-api). */
  readonly ready: boolean;
  /** Why it is not ready, or its failure. */
  readonly reason?: string | undefined;
  readonly failureCode?: string | undefined;
}

function isActive(state: JobState): boolean {
  return state === 'CREATED' || state === 'RUNNING' || state === 'DEGRADED';
}

/** Every stream's time to be written again even when nothing changed, so a key lost or overwritten heals. */
const REFRESH_MS = 5000;

/**
 * Writes `<stream>:ready` (see streamReadyKey) only when the writer's cluster owns it, or the state is
 * active (this cluster has claimed the stream for a job): an ended job of a cluster that gave the stream
 * up never overwrites the state another cluster's job now shows. KEYS[1] the key; ARGV[1] this cluster,
 * ARGV[2] `1` when the state is an ended one, ARGV[3..] field, value, … Returns 1 when written.
 */
const WRITE_READY = `
if ARGV[2] == '1' then
  local owner = redis.call('HGET', KEYS[1], 'cluster')
  if owner and owner ~= ARGV[1] then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
`;

/**
 * Publishes, per data stream of this cluster, whether its job can serve, on `<stream>:ready` in the
 * cluster's Redis: what the TypeScript and Python clients read in `waitReady`, since they speak to Redis,
 * not to the JobManager. Several jobs of one cluster may read one stream: the key shows the newest that
 * serves, else the newest active one, else the newest (a job that ended is written once, when it ends,
 * by the JobManager that saw it end). Written when it changes, and every 5 s.
 */
export class StreamReadinessPublisher {
  private readonly written = new Map<string, { fields: string; at: number; active: boolean }>();

  constructor(
    private readonly redis: Redis,
    private readonly cluster: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async publish(jobs: readonly JobReadiness[]): Promise<void> {
    const byStream = new Map<string, JobReadiness[]>();
    for (const job of jobs) {
      if (job.stream === undefined) continue;
      const list = byStream.get(job.stream) ?? [];
      list.push(job);
      byStream.set(job.stream, list);
    }
    const now = this.now();
    for (const [stream, list] of byStream) {
      const newest = [...list].sort((a, b) => b.submittedAt - a.submittedAt);
      const shown = newest.find((j) => j.ready) ?? newest.find((j) => isActive(j.state)) ?? newest[0]!;
      const active = isActive(shown.state);
      const before = this.written.get(stream);
      // Ended: written once by the process that saw it end (never at start over old jobs).
      if (!active && !before?.active) continue;
      const fields: Record<string, string> = { state: shown.state, ready: shown.ready ? '1' : '0', job: shown.jobId, cluster: this.cluster };
      if (shown.reason !== undefined) fields.reason = shown.reason.slice(0, 2000);
      if (shown.failureCode !== undefined) fields.code = shown.failureCode;
      const text = JSON.stringify(fields);
      if (before && before.fields === text && now - before.at < REFRESH_MS) continue;
      try {
        const args = Object.entries({ ...fields, updatedAt: String(now) }).flat();
        await this.redis.eval(WRITE_READY, 1, streamReadyKey(stream), this.cluster, active ? '0' : '1', ...args);
        this.written.set(stream, { fields: text, at: now, active });
      } catch (err) {
        this.logger.warn({ stream, err }, 'jobmanager.readiness.write_failed');
      }
    }
  }
}
