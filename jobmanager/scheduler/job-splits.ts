import { splitStreamKeys } from '../../src/cluster-api/keys';
import type { TopologySpec } from '../../src/topology/schema';
import type { SplitSharing } from './spread-splits';

/** A job's splits and whether subtasks may share one. */
export interface JobSplits {
  readonly splits: readonly string[];
  readonly sharing: SplitSharing;
}

/**
 * The splits of a job's source: for Redis, the partition stream keys (`splitStreamKeys(stream ?? name,
 * partitions)`), which a consumer group lets several subtasks share; for Kafka, `<topic>:<partition>`,
 * each read by one subtask only.
 */
export function jobSplits(spec: TopologySpec): JobSplits {
  const source = spec.source;
  if (source.type === 'redis') {
    return { splits: splitStreamKeys(source.stream ?? spec.name, source.partitions), sharing: 'share' };
  }
  return { splits: Array.from({ length: source.partitions }, (_, p) => `${source.topic}:${p}`), sharing: 'exclusive' };
}
