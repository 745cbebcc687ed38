/**
 * Redis key names shared by the JobManager, the TaskManagers, the connectors and the clients.
 *
 * Control-plane keys (jobs, TaskManagers, checkpoints, events) live under the cluster's name,
 * `cs:{<cluster>}:…`, so that several clusters share one Redis without touching each other. The braces
 * are a Redis Cluster hash tag: a cluster's control-plane keys sit in one hash slot, so a MULTI or script
 * touching several of them (a job's hash and the job list) stays valid on Redis Cluster.
 *
 * Data keys (request streams, results, dead letters) are named by the topology's `source.stream` (and
 * by the BigDL protocol for BigDL jobs), because clients name them; a stream belongs to one cluster at a
 * time, claimed in {@link STREAM_CLAIMS_KEY} when a job is submitted.
 */

/** The cluster name when none is given (`--cluster` / `CS_CLUSTER`). */
export const DEFAULT_CLUSTER = 'default';

/** What a cluster name may be: it becomes part of every control-plane key. */
export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

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

/** Dead-letter stream of a job's unusable and poison requests. */
export function deadLetterKey(stream: string): string {
  return `${stream}:dead-letter`;
}

/**
 * Hash saying whether the job reading `stream` can serve, written by the JobManager of the cluster that
 * claimed the stream (see STREAM_CLAIMS_KEY), so a client that knows only Redis and the stream name can
 * wait for it: `state` (CREATED, RUNNING, DEGRADED, FAILED, CANCELED), `ready` (`1` when a request sent
 * now is served: the job is RUNNING with every subtask ready), `job` (its id), `cluster`, `reason` (why
 * it is not ready, or the failure), `code` (the failure's error code) and `updatedAt` (ms since epoch).
 */
export function streamReadyKey(stream: string): string {
  return `${stream}:ready`;
}

/** The prefix of every control-plane key of one cluster: `cs:{<cluster>}:`. */
export function clusterKeyPrefix(cluster: string): string {
  return `cs:{${cluster}}:`;
}

/** JobManager state: the sorted set of a cluster's job ids by submission time. */
export function jobsKey(cluster: string): string {
  return `${clusterKeyPrefix(cluster)}jobs`;
}
/** The hash of one job's fields. */
export function jobKey(cluster: string, jobId: string): string {
  return `${clusterKeyPrefix(cluster)}job:${jobId}`;
}
/** The hash of a cluster's registered TaskManagers. */
export function taskManagersKey(cluster: string): string {
  return `${clusterKeyPrefix(cluster)}taskmanagers`;
}
/**
 * Hash of a job's subtask epochs (field = subtask index, value = epoch), written by the JobManager with
 * each assignment; the sink refuses a write that carries an older epoch (a fenced writer).
 */
export function fencesKey(cluster: string, jobId: string): string {
  return `${clusterKeyPrefix(cluster)}job:${jobId}:fences`;
}
/** Hash of a job's checkpoints: field = split stream key, value = JSON SplitCheckpoint. */
export function checkpointsKey(cluster: string, jobId: string): string {
  return `${clusterKeyPrefix(cluster)}job:${jobId}:checkpoints`;
}
/** Stream of what happened to a job's splits (e.g. a consumer group recreated), see JobEvent. */
export function jobEventsKey(cluster: string, jobId: string): string {
  return `${clusterKeyPrefix(cluster)}job:${jobId}:events`;
}
/** Hash of a job's counters (field = event kind, value = how often), see JobEvent. */
export function jobCountersKey(cluster: string, jobId: string): string {
  return `${clusterKeyPrefix(cluster)}job:${jobId}:counters`;
}
/** Set by a live JobManager with a short TTL: a stream claim by a cluster whose key is gone has lapsed. */
export function jobManagerAliveKey(cluster: string): string {
  return `${clusterKeyPrefix(cluster)}jobmanager-alive`;
}

/**
 * Hash of the data streams claimed by clusters on this Redis: field = the topology's stream name (the
 * base of its split, result and dead-letter keys), value = the cluster whose jobs read it. Shared by
 * every cluster, so it has no cluster prefix.
 */
export const STREAM_CLAIMS_KEY = 'cs:stream-claims';
