/**
 * How a job's splits are spread over its subtasks, round-robin: split `j` goes to subtask
 * `j % parallelism`. When a job has more subtasks than splits:
 * - `share` (Redis Streams: a consumer group hands each entry to one consumer, so several subtasks can
 *   read one stream safely) gives subtask `i` split `i % splits.length`, so every subtask has work;
 * - `exclusive` (Kafka partitions: one reader each) leaves the extra subtasks without splits.
 *
 * @example
 * spreadSplits(['s:0', 's:1', 's:2'], 2, 'exclusive') // [['s:0', 's:2'], ['s:1']]
 * spreadSplits(['s'], 3, 'share')                     // [['s'], ['s'], ['s']]
 */
export function spreadSplits(splits: readonly string[], parallelism: number, mode: SplitSharing): string[][] {
  const out: string[][] = Array.from({ length: parallelism }, () => []);
  if (splits.length === 0) return out;
  if (splits.length < parallelism && mode === 'share') {
    return out.map((_, i) => [splits[i % splits.length]!]);
  }
  splits.forEach((split, j) => out[j % parallelism]!.push(split));
  return out;
}

/** Whether several subtasks may read one split (see {@link spreadSplits}). */
export type SplitSharing = 'share' | 'exclusive';
