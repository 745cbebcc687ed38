/**
 * Redis key names shared by the JobManager, the TaskManagers, the connectors and the clients.
 * Every key of one job lives under `cs:{<job>}` so that a Redis Cluster keeps a job's keys together
 * where a script touches several of them.
 */

/** The stream key of one split (partition) of a job's native Redis source. */
export function splitStreamKey(stream: string, partitions: number, partition: number): string {
  return partitions === 1 ? stream : `${stream}:${partition}`;
}

/** Every split stream key of a source, in partition order. */
export function splitStreamKeys(stream: string, partitions: number): string[] {
  return Array.from({ length: partitions }, (_, p) => splitStreamKey(stream, partitions, p));
}

/** The consumer group every slot of a job reads with. */
export const CONSUMER_GROUP = 'serving';

/** Where the native sink writes the result of `uri` (an Avro Result record, with a TTL). */
export function resultKey(stream: string, uri: string): string {
  return `${stream}:result:${uri}`;
}

export function resultKeyPrefix(stream: string): string {
  return `${stream}:result:`;
}

/** Dead-letter stream of a job's poison requests. */
export function deadLetterKey(stream: string): string {
  return `${stream}:dead-letter`;
}

/** JobManager state. */
export const JOBS_KEY = 'cs:jobs';
export function jobKey(jobId: string): string {
  return `cs:job:${jobId}`;
}
export const TASKMANAGERS_KEY = 'cs:taskmanagers';
/** Hash of a job's checkpoints: field = split stream key, value = JSON SplitCheckpoint. */
export function checkpointsKey(jobId: string): string {
  return `cs:job:${jobId}:checkpoints`;
}
