import type { Redis } from 'ioredis';
import type { SplitCheckpoint, SplitStatus } from '../../src/cluster-api/dto';
import { CONSUMER_GROUP, checkpointsKey } from '../../src/cluster-api/keys';

/**
 * Reads how far a job's Redis splits are: the consumer group's lag and pending count per split stream
 * (XINFO GROUPS) and the checkpoints the subtasks record (`cs:job:<id>:checkpoints`, see
 * taskmanager/checkpoint-recorder.ts). Reads the cluster's Redis: a topology whose source names another
 * Redis `address` shows its splits with unknown lag and no pending entries.
 */
export class SplitProgressReader {
  constructor(private readonly redis: Redis) {}

  /** The job's checkpoints, in the order of `splits` (splits without one are left out; others recorded are appended). */
  async checkpoints(jobId: string, splits: readonly string[] = []): Promise<SplitCheckpoint[]> {
    const hash = await this.redis.hgetall(checkpointsKey(jobId));
    const order = new Map(splits.map((s, i) => [s, i]));
    const out: SplitCheckpoint[] = [];
    for (const [split, json] of Object.entries(hash)) {
      const parsed = parseCheckpoint(split, json);
      if (parsed) out.push(parsed);
    }
    return out.sort((a, b) => (order.get(a.split) ?? Infinity) - (order.get(b.split) ?? Infinity) || (a.split < b.split ? -1 : a.split > b.split ? 1 : 0));
  }

  /** Lag, pending and checkpoint of each split, in the given order. */
  async progress(jobId: string, splits: readonly string[]): Promise<SplitStatus[]> {
    if (splits.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const split of splits) pipeline.xinfo('GROUPS', split);
    const [replies, checkpoints] = await Promise.all([pipeline.exec(), this.checkpoints(jobId, splits)]);
    const offsets = new Map(checkpoints.map((c) => [c.split, c.offset]));
    return splits.map((split, i) => {
      const [err, groups] = replies?.[i] ?? [null, null];
      // No such key: nothing was ever sent and no subtask created the group yet.
      const group = err ? undefined : findGroup(groups, CONSUMER_GROUP);
      return { split, lag: group?.lag ?? null, pending: group?.pending ?? 0, checkpoint: offsets.get(split) ?? null };
    });
  }
}

/** XINFO GROUPS answers a list of flat [name, value, …] arrays; `lag` is nil when Redis cannot tell (and absent before 7.0). */
function findGroup(reply: unknown, name: string): { lag: number | null; pending: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const item of reply) {
    if (!Array.isArray(item)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < item.length; i += 2) fields.set(String(item[i]), item[i + 1]);
    if (String(fields.get('name')) !== name) continue;
    const lag = fields.get('lag');
    return { lag: typeof lag === 'number' ? lag : null, pending: Number(fields.get('pending') ?? 0) };
  }
  return undefined;
}

function parseCheckpoint(split: string, json: string): SplitCheckpoint | undefined {
  try {
    const v = JSON.parse(json) as Partial<SplitCheckpoint>;
    if (typeof v.offset !== 'string') return undefined;
    return { split, offset: v.offset, subtaskIndex: Number(v.subtaskIndex ?? -1), taskManagerId: String(v.taskManagerId ?? ''), updatedAt: Number(v.updatedAt ?? 0) };
  } catch {
    return undefined;
  }
}
