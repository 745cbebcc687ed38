import type { Redis } from 'ioredis';

/** A split's consumer group as XINFO GROUPS reports it. */
export interface GroupLoad {
  readonly split: string;
  /** Entries not yet delivered to any reader; null when Redis cannot tell (or before Redis 7). */
  readonly lag: number | null;
  /** Entries delivered and not yet acknowledged. */
  readonly pending: number;
}

/**
 * Lag and pending count of `group` on each split (XINFO GROUPS, one round trip); a split without the
 * group (or the stream) answers lag null and nothing pending. The JobManager reads the same figures
 * with the checkpoints (jobmanager/state/split-progress.ts); this is the TaskManager's scrape-time copy.
 */
export async function readGroupLoad(redis: Redis, splits: readonly string[], group: string): Promise<GroupLoad[]> {
  if (splits.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const split of splits) pipeline.xinfo('GROUPS', split);
  const replies = (await pipeline.exec()) ?? [];
  return splits.map((split, i) => {
    const [err, reply] = replies[i] ?? [null, null];
    const found = err ? undefined : findGroup(reply, group);
    return { split, lag: found?.lag ?? null, pending: found?.pending ?? 0 };
  });
}

/** XINFO GROUPS answers a list of flat [name, value, …] arrays. */
function findGroup(reply: unknown, name: string): { lag: number | null; pending: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const item of reply) {
    if (!Array.isArray(item)) continue;
    let groupName: unknown;
    let lag: unknown;
    let pending: unknown;
    for (let i = 0; i + 1 < item.length; i += 2) {
      const key = String(item[i]);
      if (key === 'name') groupName = item[i + 1];
      else if (key === 'lag') lag = item[i + 1];
      else if (key === 'pending') pending = item[i + 1];
    }
    if (String(groupName) === name) return { lag: typeof lag === 'number' ? lag : null, pending: Number(pending ?? 0) };
  }
  return undefined;
}
