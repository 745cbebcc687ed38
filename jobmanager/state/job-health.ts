import type { Redis } from 'ioredis';
import type { JobEvent } from '../../src/cluster-api/dto';
import { deadLetterKey, jobCountersKey, jobEventsKey } from '../../src/cluster-api/keys';

/** Events shown in a job's status, newest last. */
export const STATUS_EVENTS = 20;

/** What the subtasks reported about a job's splits, and its dead-letter stream's length. */
export interface JobHealth {
  readonly events: JobEvent[];
  readonly eventCounts: Partial<Record<JobEvent['kind'], number>>;
  readonly deadLetter: { stream: string; entries: number } | undefined;
}

/**
 * Reads the events the subtasks record for a job (`cs:{<cluster>}:job:<id>:events`, a capped stream, and
 * the counters `…:counters`, see taskmanager/job-event-recorder.ts) and the length of the job's
 * dead-letter stream `<stream>:dead-letter` on the cluster's Redis, in one round trip.
 */
export class JobHealthReader {
  constructor(
    private readonly redis: Redis,
    private readonly cluster: string,
  ) {}

  async read(jobId: string, stream: string | undefined): Promise<JobHealth> {
    const pipeline = this.redis.pipeline().xrevrange(jobEventsKey(this.cluster, jobId), '+', '-', 'COUNT', STATUS_EVENTS).hgetall(jobCountersKey(this.cluster, jobId));
    if (stream !== undefined) pipeline.xlen(deadLetterKey(stream));
    const replies = (await pipeline.exec()) ?? [];
    const [eventsErr, rows] = replies[0] ?? [null, null];
    const [countersErr, counters] = replies[1] ?? [null, null];
    const [lenErr, len] = replies[2] ?? [null, null];
    const events = eventsErr || !Array.isArray(rows) ? [] : rows.flatMap((row: unknown) => parseEvent(row) ?? []).reverse();
    const eventCounts: Partial<Record<JobEvent['kind'], number>> = {};
    if (!countersErr && counters && typeof counters === 'object') {
      for (const [kind, n] of Object.entries(counters as Record<string, string>)) if (kind === 'group_recreated') eventCounts[kind] = Number(n);
    }
    const deadLetter = stream !== undefined && !lenErr ? { stream: deadLetterKey(stream), entries: Number(len ?? 0) } : undefined;
    return { events, eventCounts, deadLetter };
  }
}

/** An XRANGE row `[id, [name, value, …]]` → JobEvent (rows that do not parse are left out). */
function parseEvent(row: unknown): JobEvent | undefined {
  if (!Array.isArray(row) || !Array.isArray(row[1])) return undefined;
  const f = new Map<string, string>();
  const fields = row[1] as unknown[];
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(String(fields[i]), String(fields[i + 1]));
  const kind = f.get('kind');
  if (kind !== 'group_recreated') return undefined;
  return { at: Number(f.get('at') ?? 0), kind, split: f.get('split') ?? '', subtaskIndex: Number(f.get('subtaskIndex') ?? -1), taskManagerId: f.get('taskManagerId') ?? '', message: f.get('message') ?? '' };
}
