import type { Redis } from 'ioredis';
import type { JobState, JobStatus, SubtaskStatus, TopologySource } from '../../src/cluster-api/dto';
import { checkpointsKey, fencesKey, jobCountersKey, jobEventsKey, jobsKey, jobKey } from '../../src/cluster-api/keys';
import type { SplitSharing } from '../scheduler/spread-splits';

/** A job as the JobManager keeps it (its topology source text is read separately, see {@link JobStore.topology}). */
export interface JobRecord extends JobStatus {
  readonly baseDir: string;
  /** Every split of the job's source, in partition order. */
  readonly splits: readonly string[];
  readonly sharing: SplitSharing;
  /** SHA-256 (hex) of the model file the JobManager keeps for this job; absent when it could not read it at submit. */
  readonly modelSha256?: string;
  /** The id the submitter chose for this submission: a retried submit with it answers this job. */
  readonly submitId?: string;
  /** The data stream (topology `source.stream`) on the cluster's Redis that this job claimed; absent for other sources. */
  readonly stream?: string;
}

/** What can change after submission. */
export interface JobUpdate {
  readonly state?: JobState;
  /** A rescale (the scheduler then re-spreads the splits). */
  readonly parallelism?: number;
  readonly subtasks?: readonly SubtaskStatus[];
  readonly failure?: string;
  readonly failureCode?: string;
}

const FIELDS = ['id', 'name', 'state', 'parallelism', 'submittedAt', 'filename', 'baseDir', 'splits', 'sharing', 'subtasks', 'failure', 'modelSha256', 'submitId', 'stream', 'finishedAt', 'failureCode'] as const;
const JOB_STATES: readonly JobState[] = ['CREATED', 'RUNNING', 'CANCELED', 'FAILED'];

/** Whether a job has finished for good: canceled or failed (it is never assigned again). */
export function isFinished(state: JobState): boolean {
  return state === 'CANCELED' || state === 'FAILED';
}

function parseRecord(values: readonly (string | null)[]): JobRecord | undefined {
  const [id, name, state, parallelism, submittedAt, filename, baseDir, splits, sharing, subtasks, failure, modelSha256, submitId, stream, finishedAt, failureCode] = values;
  if (!id || !name || !state || !JOB_STATES.includes(state as JobState)) return undefined;
  return {
    id,
    name,
    state: state as JobState,
    parallelism: Number(parallelism),
    submittedAt: Number(submittedAt),
    filename: filename ?? '',
    baseDir: baseDir ?? '',
    splits: JSON.parse(splits ?? '[]') as string[],
    sharing: sharing === 'exclusive' ? 'exclusive' : 'share',
    subtasks: JSON.parse(subtasks ?? '[]') as SubtaskStatus[],
    ...(failure ? { failure } : {}),
    ...(failureCode ? { failureCode } : {}),
    ...(modelSha256 ? { modelSha256 } : {}),
    ...(submitId ? { submitId } : {}),
    ...(stream ? { stream } : {}),
    ...(finishedAt ? { finishedAt: Number(finishedAt) } : {}),
  };
}

/**
 * The JobManager's jobs, kept in Redis so a restarted JobManager carries on: the hash `cs:{<cluster>}:job:<id>`
 * holds a job's fields (the submitted topology text among them, JSON for lists), and the sorted set
 * `cs:{<cluster>}:jobs` lists the ids by submission time. Callers serialise writes (the JobManager does).
 */
export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly cluster: string,
    /** ms since epoch, for `finishedAt`; injectable for tests. */
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores a new job with its topology source. */
  async create(job: JobRecord, topology: TopologySource): Promise<void> {
    await this.redis
      .multi()
      .hset(jobKey(this.cluster, job.id), {
        id: job.id,
        name: job.name,
        state: job.state,
        parallelism: String(job.parallelism),
        submittedAt: String(job.submittedAt),
        filename: topology.filename,
        baseDir: topology.baseDir,
        source: topology.source,
        splits: JSON.stringify(job.splits),
        sharing: job.sharing,
        subtasks: JSON.stringify(job.subtasks),
        ...(job.modelSha256 !== undefined ? { modelSha256: job.modelSha256 } : {}),
        ...(job.submitId !== undefined ? { submitId: job.submitId } : {}),
        ...(job.stream !== undefined ? { stream: job.stream } : {}),
      })
      .zadd(jobsKey(this.cluster), String(job.submittedAt), job.id)
      .exec();
  }

  /** One job, or undefined when unknown. */
  async get(jobId: string): Promise<JobRecord | undefined> {
    return parseRecord(await this.redis.hmget(jobKey(this.cluster, jobId), ...FIELDS));
  }

  /** Every job, in submission order. */
  async list(): Promise<JobRecord[]> {
    const ids = await this.redis.zrange(jobsKey(this.cluster), '0', '-1');
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(jobKey(this.cluster, id), ...FIELDS);
    const replies = (await pipeline.exec()) ?? [];
    const jobs: JobRecord[] = [];
    for (const [err, values] of replies) {
      if (err) throw err;
      const job = parseRecord(values as (string | null)[]);
      if (job) jobs.push(job);
    }
    return jobs;
  }

  /** The epochs stored in the job's fence hash, by subtask index (also of subtasks a rescale dropped). */
  async epochs(jobId: string): Promise<Map<number, number>> {
    const all = await this.redis.hgetall(fencesKey(this.cluster, jobId));
    return new Map(Object.entries(all).map(([index, epoch]) => [Number(index), Number(epoch)]));
  }

  /** The topology file as submitted, or undefined when the job is unknown. */
  async topology(jobId: string): Promise<TopologySource | undefined> {
    const [filename, source, baseDir] = await this.redis.hmget(jobKey(this.cluster, jobId), 'filename', 'source', 'baseDir');
    if (typeof filename !== 'string' || typeof source !== 'string') return undefined;
    return { filename, source, baseDir: baseDir ?? '' };
  }

  /**
   * Changes state, parallelism, assignment or failure of an existing job. The subtasks' epochs go to the
   * job's fence hash (`fencesKey`, field = subtask index) in the same transaction, so the sink never
   * sees an epoch the job record does not hold. A job that becomes CANCELED or FAILED gets `finishedAt`
   * (kept from the first time), from which {@link pruneFinished} counts its retention.
   */
  async update(jobId: string, update: JobUpdate): Promise<void> {
    if (update.state !== undefined && isFinished(update.state)) await this.redis.hsetnx(jobKey(this.cluster, jobId), 'finishedAt', String(this.now()));
    const fields: Record<string, string> = {};
    if (update.state !== undefined) fields.state = update.state;
    if (update.parallelism !== undefined) fields.parallelism = String(update.parallelism);
    if (update.subtasks !== undefined) fields.subtasks = JSON.stringify(update.subtasks);
    if (update.failure !== undefined) fields.failure = update.failure;
    if (update.failureCode !== undefined) fields.failureCode = update.failureCode;
    if (Object.keys(fields).length === 0) return;
    const epochs: Record<string, string> = {};
    for (const s of update.subtasks ?? []) if (s.epoch !== undefined) epochs[String(s.index)] = String(s.epoch);
    if (Object.keys(epochs).length === 0) {
      await this.redis.hset(jobKey(this.cluster, jobId), fields);
      return;
    }
    const replies = await this.redis.multi().hset(jobKey(this.cluster, jobId), fields).hset(fencesKey(this.cluster, jobId), epochs).exec();
    for (const [err] of replies ?? []) if (err) throw err;
  }

  /**
   * Removes the finished (CANCELED or FAILED) jobs that finished at or before `finishedBefore` (ms since
   * epoch): each job's hash, its id in the job list and every `cs:{<cluster>}:job:<id>:…` key (fences,
   * checkpoints, events, counters and any added later), in one transaction per job. Active jobs are never
   * touched. A finished job stored before `finishedAt` existed gets it now, so it is removed one retention
   * later. Answers the removed jobs.
   */
  async pruneFinished(finishedBefore: number): Promise<JobRecord[]> {
    const pruned: JobRecord[] = [];
    for (const job of await this.list()) {
      if (!isFinished(job.state)) continue;
      if (job.finishedAt === undefined) {
        await this.redis.hsetnx(jobKey(this.cluster, job.id), 'finishedAt', String(this.now()));
        continue;
      }
      if (job.finishedAt > finishedBefore) continue;
      const keys = [jobKey(this.cluster, job.id), ...(await this.subKeys(job.id))];
      const replies = await this.redis.multi().zrem(jobsKey(this.cluster), job.id).del(...keys).exec();
      for (const [err] of replies ?? []) if (err) throw err;
      pruned.push(job);
    }
    return pruned;
  }

  /** The keys under a job's own prefix (`cs:{<cluster>}:job:<id>:*`), found with SCAN (never KEYS). */
  private async subKeys(jobId: string): Promise<string[]> {
    const pattern = `${jobKey(this.cluster, jobId).replace(/[*?[\]\\]/g, '\\$&')}:*`;
    const found = new Set<string>([fencesKey(this.cluster, jobId), checkpointsKey(this.cluster, jobId), jobEventsKey(this.cluster, jobId), jobCountersKey(this.cluster, jobId)]);
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) found.add(key);
      cursor = next;
    } while (cursor !== '0');
    return [...found];
  }
}
