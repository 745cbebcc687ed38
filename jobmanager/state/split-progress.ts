import type { Redis } from 'ioredis';
import type { SplitCheckpoint, SplitStatus } from '../../src/cluster-api/dto';
import { CONSUMER_GROUP, checkpointsKey } from '../../src/cluster-api/keys';
import { previousStreamId } from '../../src/redis/stream-ids';

/**
 * Reads how far a job's Redis splits are: the consumer group's lag and pending count per split stream
 * (XINFO GROUPS) and the checkpoints the subtasks record (`cs:{<cluster>}:job:<id>:checkpoints`, see
 * taskmanager/checkpoint-recorder.ts). Reads the cluster's Redis: a topology whose source names another
 * Redis `address` shows its splits with unknown lag and no pending entries.
 *
 * A checkpoint's offset comes from the consumer group itself when it can: the sink acknowledges an entry
 * in the same atomic step that writes its result, so every entry up to just before the smallest pending
 * id (or, with none pending, up to the last delivered id) has its result written. That holds however many
 * subtasks share the split, and for entries still pending on a reader that died; the recorded offset of
 * the subtask that recorded last could be behind another subtask's or ahead of a dead one's.
 */
/** What a split's consumer group says: lag and pending count (XINFO GROUPS), and the offset it proves written. */
interface GroupState {
  readonly lag: number | null;
  readonly pending: number;
  readonly writtenUpTo: string | undefined;
}

export class SplitProgressReader {
  constructor(
    private readonly redis: Redis,
    private readonly cluster: string,
  ) {}

  /** The job's checkpoints, in the order of `splits` (splits without one are left out; others recorded are appended). */
  async checkpoints(jobId: string, splits: readonly string[] = []): Promise<SplitCheckpoint[]> {
    const recorded = await this.recorded(jobId);
    const groups = await this.groups(recorded.map((c) => c.split));
    const order = new Map(splits.map((s, i) => [s, i]));
    return recorded
      .map((c) => withGroupOffset(c, groups.get(c.split)))
      .sort((a, b) => (order.get(a.split) ?? Infinity) - (order.get(b.split) ?? Infinity) || (a.split < b.split ? -1 : a.split > b.split ? 1 : 0));
  }

  /** Lag, pending and checkpoint of each split, in the given order. */
  async progress(jobId: string, splits: readonly string[]): Promise<SplitStatus[]> {
    if (splits.length === 0) return [];
    const [recorded, groups] = await Promise.all([this.recorded(jobId), this.groups(splits)]);
    const offsets = new Map(recorded.map((c) => [c.split, withGroupOffset(c, groups.get(c.split)).offset]));
    return splits.map((split) => {
      // No group: nothing was ever sent and no subtask created the group yet.
      const group = groups.get(split);
      return { split, lag: group?.lag ?? null, pending: group?.pending ?? 0, checkpoint: offsets.get(split) ?? null };
    });
  }

  /** The checkpoints the subtasks recorded, one per split (the last recorder's). */
  private async recorded(jobId: string): Promise<SplitCheckpoint[]> {
    const hash = await this.redis.hgetall(checkpointsKey(this.cluster, jobId));
    return Object.entries(hash).flatMap(([split, json]) => parseCheckpoint(split, json) ?? []);
  }

  /** XINFO GROUPS and XPENDING of each split, in one round trip; splits without the group are left out. */
  private async groups(splits: readonly string[]): Promise<Map<string, GroupState>> {
    const out = new Map<string, GroupState>();
    if (splits.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const split of splits) pipeline.xinfo('GROUPS', split).xpending(split, CONSUMER_GROUP);
    const replies = (await pipeline.exec()) ?? [];
    splits.forEach((split, i) => {
      const [groupsErr, groups] = replies[2 * i] ?? [null, null];
      const [pendingErr, pending] = replies[2 * i + 1] ?? [null, null];
      const group = groupsErr ? undefined : findGroup(groups, CONSUMER_GROUP);
      if (group) out.set(split, { lag: group.lag, pending: group.pending, writtenUpTo: pendingErr ? undefined : writtenUpTo(group.lastDelivered, pending) });
    });
    return out;
  }
}

/** The recorded checkpoint with the offset its consumer group proves, when the group says. */
function withGroupOffset(c: SplitCheckpoint, group: GroupState | undefined): SplitCheckpoint {
  return group?.writtenUpTo === undefined ? c : { ...c, offset: group.writtenUpTo };
}

/**
 * The id up to which every entry of a split has its result written: just before the smallest pending id
 * (XPENDING's summary: [count, smallest, largest, consumers]), or the last delivered id when none is
 * pending. Undefined when the replies do not say.
 */
function writtenUpTo(lastDelivered: string | undefined, pending: unknown): string | undefined {
  if (!Array.isArray(pending)) return undefined;
  const count = Number(pending[0]);
  if (count === 0) return lastDelivered;
  return typeof pending[1] === 'string' ? previousStreamId(pending[1]) : undefined;
}

/** XINFO GROUPS answers a list of flat [name, value, …] arrays; `lag` is nil when Redis cannot tell (and absent before 7.0). */
function findGroup(reply: unknown, name: string): { lag: number | null; pending: number; lastDelivered: string | undefined } | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const item of reply) {
    if (!Array.isArray(item)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < item.length; i += 2) fields.set(String(item[i]), item[i + 1]);
    if (String(fields.get('name')) !== name) continue;
    const lag = fields.get('lag');
    const last = fields.get('last-delivered-id');
    return { lag: typeof lag === 'number' ? lag : null, pending: Number(fields.get('pending') ?? 0), lastDelivered: typeof last === 'string' ? last : undefined };
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
