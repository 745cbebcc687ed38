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

/**
 * The namespace of client reply streams: a native request's `replyTo` must be `<stream>:reply:<id>`, `<id>`
 * 1-128 characters of letters, digits, `_`, `-`, `.` (what the TypeScript and Python clients and the
 * KServe gateway use: a UUID). Nothing else of the job (its split streams, results, dead letters) lives
 * under it, so a reply can never touch the job's own keys.
 */
export function replyKeyPrefix(stream: string): string {
  return `${stream}:reply:`;
}

const REPLY_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/** Whether `key` is a reply stream key the job `stream` accepts (see {@link replyKeyPrefix}). */
export function isReplyKey(stream: string, key: string): boolean {
  const prefix = replyKeyPrefix(stream);
  return key.startsWith(prefix) && REPLY_ID.test(key.slice(prefix.length));
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
/**
 * Hash of a job's subtask epochs (field = subtask index, value = epoch), written by the JobManager with
 * each assignment; the sink refuses a write that carries an older epoch (a fenced writer).
 */
export function fencesKey(jobId: string): string {
  return `cs:job:${jobId}:fences`;
}
/** Hash of a job's checkpoints: field = split stream key, value = JSON SplitCheckpoint. */
export function checkpointsKey(jobId: string): string {
  return `cs:job:${jobId}:checkpoints`;
}
