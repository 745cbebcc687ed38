import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type {
  HeartbeatRequest,
  HeartbeatResponse,
  JobCheckpoints,
  JobList,
  JobState,
  JobStatus,
  ModelStatus,
  ModelUploadResponse,
  RegisterTaskManagerRequest,
  RegisterTaskManagerResponse,
  SubmitJobRequest,
  SubmitJobResponse,
  SubtaskAssignment,
  TaskManagerInfo,
  TaskManagerList,
  TopologySource,
} from '../src/cluster-api/dto';
import { ModelDirectories } from '../src/cluster-api/model-directories';
import { ClusterServingError, toClusterServingError } from '../src/errors';
import { isErrorCode } from '../src/errors/codes';
import { readOnnxModelInfo, type OnnxModelInfo, type OnnxTensorInfo } from '../src/runtime/onnx-model-info';
import type { Logger } from '../src/logging/logger';
import type { TopologySpec } from '../src/topology/schema';
import { JobStateConflict } from './job-state-conflict';
import { toJobStatus, toModelStatus } from './job-status-view';
import { assignSubtasks } from './scheduler/assign-subtasks';
import { jobSplits } from './scheduler/job-splits';
import { withEpochs } from './scheduler/subtask-epochs';
import type { JobRecord, JobStore, JobUpdate } from './state/job-store';
import type { HeldModel, ModelStore } from './state/model-store';
import type { TaskManagerRegistry } from './state/taskmanager-registry';
import type { SplitProgressReader } from './state/split-progress';
import type { StreamClaims } from './state/stream-claims';
import type { JobHealthReader } from './state/job-health';
import { SubtaskReadiness } from './state/subtask-readiness';
import type { JobReadiness } from './state/stream-readiness';
import { servesNow } from '../src/cluster-api/serves-now';
import { StreamClaimConflict } from './stream-claim-conflict';
import { SubmitChecks } from './submit-checks';

/** Cluster totals for `GET /overview`. */
export interface ClusterOverview {
  /** The cluster's name (prefix of its keys in Redis). */
  readonly cluster: string;
  /** Jobs that are CREATED or RUNNING. */
  readonly jobs: number;
  readonly taskmanagers: number;
  readonly slotsTotal: number;
  readonly slotsAvailable: number;
}

/** What a {@link ControlPlane} works with. */
export interface ControlPlaneOptions {
  /** The cluster's name: TaskManagers learn it at registration and with every assignment. */
  readonly cluster: string;
  /** Claims each job's data stream for this cluster; without it, nothing is claimed. */
  readonly claims?: StreamClaims;
  /** Events, event counts and dead-letter length for job status; without it, status shows none. */
  readonly health?: JobHealthReader;
  readonly jobs: JobStore;
  readonly taskManagers: TaskManagerRegistry;
  /**
   * Validates a topology (`typecheck`: at submit; without, to read a stored job's spec again) and answers
   * its spec, model path absolute; throws TopologyError listing every problem, or CS_ERR_FORBIDDEN.
   */
  readonly validate: (source: TopologySource, options: { readonly typecheck: boolean }) => Promise<TopologySpec>;
  /** The folders a topology's model path may point into. @default none: models must be uploaded with the job */
  readonly modelDirs?: ModelDirectories;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Keeps a copy of each submitted model to ship to the TaskManagers; without it, none is shipped. */
  readonly models?: ModelStore;
  /** Lag, pending entries and checkpoints of the jobs' Redis splits; without it, job status shows none. */
  readonly progress?: SplitProgressReader;
  readonly logger: Logger;
  /** ms since epoch; injectable for tests. */
  readonly now?: () => number;
  /** How long finished jobs are kept (reported with the job list; {@link ControlPlane.pruneFinished} removes them). */
  readonly jobRetentionMs?: number;
}

function isActive(state: JobState): boolean {
  return state === 'CREATED' || state === 'RUNNING';
}

function notFound(what: string, context: { jobId?: string } = {}): ClusterServingError {
  return new ClusterServingError('CS_ERR_NOT_FOUND', `${what} not found`, { context });
}

/**
 * What the JobManager does, behind its REST API: jobs (submit, cancel, status), TaskManager membership
 * (register, heartbeat, deregister) and the assignment of subtasks to slots. Every state change runs
 * one at a time (an in-process queue), so a cancel can never be overwritten by a concurrent reassignment.
 * All state is in Redis; the only memory is a cache of the job list that this process alone writes.
 */
export class ControlPlane {
  private readonly now: () => number;
  private readonly startedAt: number;
  /** Recent spans (ms since epoch) during which this process was stalled and could not hear heartbeats. */
  private stalls: { from: number; to: number }[] = [];
  private readonly log: { jobs: Logger; scheduler: Logger; members: Logger };
  private queue: Promise<unknown> = Promise.resolve();
  private jobCache: Promise<JobRecord[]> | undefined;
  /** Per job, its model's declared inputs and outputs once read (a job's model never changes). */
  private readonly modelInfos = new Map<string, Promise<OnnxModelInfo>>();
  /** Per job, its validated topology spec (loaded once per job and process). */
  private readonly specs = new Map<string, Promise<TopologySpec>>();
  private readonly modelDirs: ModelDirectories;
  /** Per job and subtask, the read problem its TaskManager reported in its last heartbeat. */
  private readonly readProblems = new Map<string, Map<number, { taskManagerId: string; problem: string }>>();
  /** Which subtasks reported that they can serve (a job is RUNNING once all of them did). */
  private readonly readiness = new SubtaskReadiness();
  private readonly checks: SubmitChecks;

  constructor(private readonly options: ControlPlaneOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.modelDirs = options.modelDirs ?? new ModelDirectories([]);
    this.checks = new SubmitChecks({ modelDirs: this.modelDirs, ...(options.models ? { models: options.models } : {}), logger: options.logger });
    this.log = {
      jobs: options.logger.child({ component: 'jobmanager.jobs' }),
      scheduler: options.logger.child({ component: 'jobmanager.scheduler' }),
      members: options.logger.child({ component: 'jobmanager.taskmanagers' }),
    };
  }

  /** Runs `fn` after every state change queued before it. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every queued state change has finished. */
  async idle(): Promise<void> {
    await this.queue;
  }

  private allJobs(): Promise<JobRecord[]> {
    this.jobCache ??= this.options.jobs.list().catch((err: unknown) => {
      this.jobCache = undefined;
      throw err;
    });
    return this.jobCache;
  }

  /** Writes job state, dropping the cached list before and after (a read racing the write cannot keep stale data). */
  private async writeJobs(write: () => Promise<void>): Promise<void> {
    this.jobCache = undefined;
    try {
      await write();
    } finally {
      this.jobCache = undefined;
    }
  }

  private updateJob(jobId: string, update: JobUpdate): Promise<void> {
    return this.writeJobs(() => this.options.jobs.update(jobId, update));
  }

  private async requireJob(jobId: string): Promise<JobRecord> {
    const job = (await this.allJobs()).find((j) => j.id === jobId) ?? (await this.options.jobs.get(jobId));
    if (!job) throw notFound(`job ${jobId}`, { jobId });
    return job;
  }

  // ---- jobs ----

  /**
   * Validates and stores a job; it becomes RUNNING once every subtask reports it can serve. The model is
   * the one uploaded before (`request.modelSha256`), else the topology's `model.path`, which must lie
   * inside a model directory and is then copied into the model store; a job that cannot run (model
   * missing or not fitting the decode step, connector not available) is refused with every problem (see
   * SubmitChecks). A `submitId` already used answers the job it created, so a retried submit never makes a second job.
   */
  async submit(source: TopologySource, request: Omit<SubmitJobRequest, 'topology'> = {}): Promise<SubmitJobResponse> {
    const { submitId } = request;
    const earlier = submitId !== undefined ? await this.jobBySubmitId(submitId) : undefined;
    if (earlier) return { jobId: earlier.id };
    const spec = await this.options.validate(source, { typecheck: true });
    const { modelSha256, modelInfo } = await this.checks.check(spec, request.modelSha256);
    const { splits, sharing } = jobSplits(spec);
    // Streams on the cluster's own Redis are claimed for this cluster (see StreamClaims).
    const stream = spec.source.type === 'redis' && spec.source.address === undefined ? (spec.source.stream ?? spec.name) : undefined;
    if (stream !== undefined && this.options.claims) {
      const foreign = await this.options.claims.claim([stream]);
      if (foreign) throw new StreamClaimConflict(foreign.stream, foreign.cluster, this.options.cluster);
    }
    const job: JobRecord = {
      id: randomBytes(16).toString('hex'),
      name: spec.name,
      state: 'CREATED',
      parallelism: spec.parallelism,
      submittedAt: this.now(),
      filename: source.filename,
      baseDir: source.baseDir,
      splits,
      sharing,
      subtasks: [],
      ...(modelSha256 !== undefined ? { modelSha256 } : {}),
      ...(submitId !== undefined ? { submitId } : {}),
      ...(stream !== undefined ? { stream } : {}),
    };
    let created: boolean;
    try {
      created = await this.exclusive(async () => {
        const again = submitId !== undefined ? await this.jobBySubmitId(submitId) : undefined;
        if (again) return false;
        await this.writeJobs(() => this.options.jobs.create(job, source));
        return true;
      });
    } catch (err) {
      await this.releaseStream(job);
      throw err;
    }
    // A retried submit: the job (and this cluster's claim on its stream) exists already.
    if (!created) return { jobId: (await this.jobBySubmitId(submitId!))!.id };
    this.specs.set(job.id, Promise.resolve(spec));
    this.modelInfos.set(job.id, Promise.resolve(modelInfo));
    this.log.jobs.info({ jobId: job.id, job: job.name, parallelism: job.parallelism, splits: splits.length, modelSha256 }, 'jobmanager.job.submitted');
    await this.reassign();
    return { jobId: job.id };
  }

  private async jobBySubmitId(submitId: string): Promise<JobRecord | undefined> {
    return (await this.allJobs()).find((j) => j.submitId === submitId);
  }

  /** A job's validated topology spec, loaded once per job (off the event loop for TypeScript). */
  jobSpec(jobId: string): Promise<TopologySpec> {
    let spec = this.specs.get(jobId);
    if (!spec) {
      const loading = this.topology(jobId).then((source) => this.options.validate(source, { typecheck: false }));
      this.specs.set(jobId, loading);
      loading.catch(() => {
        if (this.specs.get(jobId) === loading) this.specs.delete(jobId);
      });
      spec = loading;
    }
    return spec;
  }

  async listJobs(): Promise<JobList> {
    const jobs = await this.allJobs();
    // A RUNNING job whose subtasks cannot read is listed DEGRADED, as its status shows it.
    const summaries = jobs.map((job) => ({ id: job.id, name: job.name, state: this.degradedReason(job) !== undefined ? ('DEGRADED' as const) : job.state, parallelism: job.parallelism, submittedAt: job.submittedAt, ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}) }));
    return { jobs: summaries, ...(this.options.jobRetentionMs !== undefined ? { jobRetentionMs: this.options.jobRetentionMs } : {}) };
  }

  /** Removes finished jobs that finished at or before `finishedBefore` from Redis and from memory (JobStore.pruneFinished). */
  pruneFinished(finishedBefore: number): Promise<JobRecord[]> {
    return this.exclusive(async () => {
      let pruned: JobRecord[] = [];
      await this.writeJobs(async () => void (pruned = await this.options.jobs.pruneFinished(finishedBefore)));
      for (const job of pruned) [this.modelInfos, this.specs, this.readProblems].forEach((memory) => memory.delete(job.id));
      return pruned;
    });
  }

  /** The job, with its model's declared inputs and outputs and each split's lag, pending entries and checkpoint (Redis sources). */
  async jobStatus(jobId: string): Promise<JobStatus> {
    const job = await this.requireJob(jobId);
    const model = this.modelInfo(jobId).then(toModelStatus, (err: unknown) => {
      this.log.jobs.debug({ jobId, reason: toClusterServingError(err).message }, 'jobmanager.job.model_info_unavailable');
      return undefined;
    });
    let status: JobStatus = toJobStatus(job);
    const starting = isActive(job.state) ? this.readiness.starting(job) : undefined;
    if (starting !== undefined) status = { ...status, starting };
    const degraded = this.degradedReason(job);
    if (degraded !== undefined) status = { ...status, state: 'DEGRADED', degraded };
    if (this.options.health) {
      try {
        const { events, eventCounts, deadLetter } = await this.options.health.read(jobId, job.stream);
        status = { ...status, events, eventCounts, ...(deadLetter ? { deadLetter } : {}) };
      } catch (err) {
        this.log.jobs.warn({ jobId, err }, 'jobmanager.job.health_unavailable');
      }
    }
    // Shared splits are Redis streams read through the consumer group (Kafka partitions are exclusive).
    if (this.options.progress && job.sharing === 'share') {
      try {
        status = { ...status, splitProgress: await this.options.progress.progress(jobId, job.splits) };
      } catch (err) {
        this.log.jobs.warn({ jobId, err }, 'jobmanager.job.progress_unavailable');
      }
    }
    const info = await model;
    return info ? { ...status, model: info } : status;
  }

  /** Each job's shown state and whether it serves now, for the streams' readiness keys (StreamReadinessPublisher). */
  async jobReadiness(): Promise<JobReadiness[]> {
    return (await this.allJobs()).map((job) => {
      const degraded = this.degradedReason(job);
      const state: JobState = degraded !== undefined ? 'DEGRADED' : job.state;
      const reason = job.failure ?? degraded ?? (isActive(job.state) ? this.readiness.starting(job) : undefined);
      return { jobId: job.id, stream: job.stream, submittedAt: job.submittedAt, state, ready: servesNow(state, job.subtasks), reason, failureCode: job.failureCode };
    });
  }

  /** Why a RUNNING job cannot read right now (its subtasks' read problems from their last heartbeats), or undefined. */
  private degradedReason(job: JobRecord): string | undefined {
    // A CREATED job whose subtask reports it cannot read (e.g. cannot even start on its split) is shown
    // DEGRADED with the reason too: more use to an operator than "CREATED" forever.
    if (job.state !== 'RUNNING' && job.state !== 'CREATED') return undefined;
    const problems = this.readProblems.get(job.id);
    const lines: string[] = [];
    for (const s of job.subtasks) {
      const p = problems?.get(s.index);
      if (p && p.taskManagerId === s.taskManagerId) lines.push(`subtask ${s.index} on ${p.taskManagerId} cannot read: ${p.problem}`);
    }
    if (!problems) return undefined;
    const idle = job.state === 'RUNNING' ? this.readiness.noneServing(job) : undefined;
    if (idle !== undefined) lines.push(idle);
    return lines.length > 0 ? lines.join('; ') : undefined;
  }

  /**
   * Claims the streams of this cluster's active jobs again (a JobManager starting over existing state, or
   * claims lost with Redis); a stream another live cluster holds meanwhile is logged, its job left as is.
   */
  async claimActiveStreams(): Promise<void> {
    const claims = this.options.claims;
    if (!claims) return;
    for (const job of await this.allJobs()) {
      if (!isActive(job.state) || job.stream === undefined) continue;
      const foreign = await claims.claim([job.stream]);
      if (foreign) this.log.jobs.warn({ jobId: job.id, job: job.name, stream: job.stream, cluster: foreign.cluster }, 'jobmanager.stream.claimed_elsewhere');
    }
  }

  /** Releases the job's stream claim unless another active job of this cluster still reads it. */
  private async releaseStream(job: JobRecord): Promise<void> {
    if (job.stream === undefined || !this.options.claims) return;
    const others = (await this.allJobs()).some((j) => j.id !== job.id && isActive(j.state) && j.stream === job.stream);
    if (others) return;
    try {
      await this.options.claims.release([job.stream]);
    } catch (err) {
      this.log.jobs.warn({ jobId: job.id, stream: job.stream, err }, 'jobmanager.stream.release_failed');
    }
  }

  /**
   * What the job's model file declares (inputs and outputs, from the ONNX file, no session), read once per
   * job: from the JobManager's copy (by content hash, the bytes the TaskManagers load) when it holds one,
   * else from the path the topology names. Rejects with CS_ERR_MODEL_LOAD when neither can be read; that
   * is not kept, so a later call tries again (the topology is loaded only once).
   */
  modelInfo(jobId: string): Promise<OnnxModelInfo> {
    let info = this.modelInfos.get(jobId);
    if (!info) {
      const reading = this.readModelInfo(jobId);
      this.modelInfos.set(jobId, reading);
      reading.catch(() => {
        if (this.modelInfos.get(jobId) === reading) this.modelInfos.delete(jobId);
      });
      info = reading;
    }
    return info;
  }

  private async readModelInfo(jobId: string): Promise<OnnxModelInfo> {
    const job = await this.requireJob(jobId);
    const held = job.modelSha256 !== undefined ? await this.options.models?.file(job.modelSha256) : undefined;
    if (held) return readOnnxModelInfo(held.path);
    try {
      const path = (await this.jobSpec(jobId)).model.path;
      const where = await this.modelDirs.locate(path);
      if (where.kind !== 'file') throw new ClusterServingError('CS_ERR_MODEL_LOAD', `it holds no copy, and ${path} is no file inside its model directories`);
      return await readOnnxModelInfo(where.path);
    } catch (err) {
      const reason = toClusterServingError(err).message;
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', `the JobManager cannot read the model of ${job.name} (job ${jobId}), so it cannot describe it: ${reason}`, { cause: err, context: { jobId } });
    }
  }

  /** Per split, the offset up to which every result is written, as the subtasks recorded it. */
  async checkpoints(jobId: string): Promise<JobCheckpoints> {
    const job = await this.requireJob(jobId);
    return { jobId, splits: (await this.options.progress?.checkpoints(jobId, job.splits)) ?? [] };
  }

  /** The topology file as submitted, for the TaskManagers that run the job. */
  async topology(jobId: string): Promise<TopologySource> {
    const source = await this.options.jobs.topology(jobId);
    if (!source) throw notFound(`job ${jobId}`, { jobId });
    return source;
  }

  /** The job's model file as the JobManager holds it (CS_ERR_NOT_FOUND when the job is unknown or none is held). */
  async model(jobId: string): Promise<HeldModel & { sha256: string }> {
    const job = await this.requireJob(jobId);
    const held = job.modelSha256 !== undefined ? await this.options.models?.file(job.modelSha256) : undefined;
    if (job.modelSha256 === undefined || !held) throw notFound(`model of job ${jobId} (the JobManager could not read it at submit)`, { jobId });
    return { ...held, sha256: job.modelSha256 };
  }

  /** The held model file of this content hash (CS_ERR_NOT_FOUND when none is held): only the model store is ever served. */
  async modelByHash(sha256: string): Promise<HeldModel & { sha256: string }> {
    const held = await this.options.models?.file(sha256);
    if (!held) throw notFound(`model ${sha256.slice(0, 80)}`);
    return { ...held, sha256 };
  }

  /** Stores an uploaded model that must hash to `sha256`; CS_ERR_BAD_REQUEST when it does not. */
  async uploadModel(sha256: string, body: Readable): Promise<ModelUploadResponse> {
    if (!this.options.models) throw new ClusterServingError('CS_ERR_CLOSED', 'this JobManager keeps no models');
    const stored = await this.options.models.receive(sha256, body);
    this.log.jobs.info({ sha256: stored.sha256, bytes: stored.bytes }, 'jobmanager.model.uploaded');
    return { sha256: stored.sha256, bytes: stored.bytes };
  }

  /**
   * Changes a job's parallelism (Flink's rescale): its splits are spread over `parallelism` subtasks;
   * subtasks that remain keep their TaskManager, and the TaskManagers converge on their next heartbeat
   * (new subtasks start, removed ones finish their in-flight work and stop). Other jobs keep their
   * assignment. Throws {@link JobStateConflict} for a canceled or failed job.
   */
  async rescale(jobId: string, parallelism: number): Promise<JobStatus> {
    const changed = await this.exclusive(async () => {
      const job = await this.requireJob(jobId);
      if (!isActive(job.state)) throw new JobStateConflict(jobId, job.state, 'be rescaled');
      if (job.parallelism === parallelism) return false;
      await this.updateJob(jobId, { parallelism });
      this.log.jobs.info({ jobId, job: job.name, from: job.parallelism, to: parallelism }, 'jobmanager.job.rescaled');
      return true;
    });
    if (changed) await this.reassign();
    return this.jobStatus(jobId);
  }

  /** Stops assigning the job; TaskManagers stop its subtasks on their next heartbeat. Idempotent. */
  async cancel(jobId: string): Promise<JobStatus> {
    return this.exclusive(async () => {
      const job = await this.requireJob(jobId);
      if (!isActive(job.state)) return toJobStatus(job);
      const subtasks = job.subtasks.map((s) => ({ ...s, taskManagerId: null }));
      await this.updateJob(jobId, { state: 'CANCELED', subtasks });
      this.readProblems.delete(jobId);
      await this.releaseStream(job);
      this.log.jobs.info({ jobId, job: job.name }, 'jobmanager.job.canceled');
      return toJobStatus({ ...job, state: 'CANCELED', subtasks });
    });
  }

  // ---- TaskManagers ----

  async register(request: RegisterTaskManagerRequest): Promise<RegisterTaskManagerResponse> {
    await this.exclusive(() => this.options.taskManagers.register(request, this.now()));
    this.log.members.info({ taskManagerId: request.id, host: request.host, slots: request.slots }, 'jobmanager.taskmanager.registered');
    await this.reassign();
    return { cluster: this.options.cluster, heartbeatIntervalMs: this.options.heartbeatIntervalMs, heartbeatTimeoutMs: this.options.heartbeatTimeoutMs };
  }

  /**
   * Records a heartbeat and answers the TaskManager's full desired set. A subtask reported with a
   * failure fails its job.
   */
  async heartbeat(taskManagerId: string, request: HeartbeatRequest): Promise<HeartbeatResponse> {
    const { known, failed } = await this.exclusive(async () => {
      const tm = await this.options.taskManagers.heartbeat(taskManagerId, request.running, this.now());
      if (!tm) return { known: false, failed: false };
      let failed = false;
      this.recordReadProblems(taskManagerId, request);
      const newlyReady = this.readiness.record(taskManagerId, request.running);
      for (const r of request.running) {
        if (r.failure === undefined) continue;
        const job = (await this.allJobs()).find((j) => j.id === r.jobId);
        if (!job || !isActive(job.state)) continue;
        const failure = `subtask ${r.subtaskIndex} on ${taskManagerId}: ${r.failure}`;
        const failureCode = r.failureCode !== undefined && isErrorCode(r.failureCode) ? r.failureCode : undefined;
        await this.updateJob(job.id, { state: 'FAILED', failure, ...(failureCode ? { failureCode } : {}), subtasks: job.subtasks.map((s) => ({ ...s, taskManagerId: null })) });
        await this.releaseStream(job);
        this.log.jobs.error({ jobId: job.id, job: job.name, subtask: r.subtaskIndex, taskManagerId, failure: r.failure, code: failureCode }, 'jobmanager.job.failed');
        failed = true;
      }
      return { known: true, failed: failed || newlyReady };
    });
    if (!known) return { assignments: [], known: false };
    // A failed job frees its slots; a subtask that became ready may make its job RUNNING.
    if (failed) await this.reassign();
    return { assignments: await this.assignmentsOf(taskManagerId), known: true };
  }

  /** Keeps what this TaskManager's subtasks say about their reads (replacing what it said before). */
  private recordReadProblems(taskManagerId: string, request: HeartbeatRequest): void {
    for (const [jobId, problems] of this.readProblems) {
      for (const [index, p] of problems) if (p.taskManagerId === taskManagerId) problems.delete(index);
      if (problems.size === 0) this.readProblems.delete(jobId);
    }
    for (const r of request.running) {
      if (r.readProblem === undefined) continue;
      let problems = this.readProblems.get(r.jobId);
      if (!problems) this.readProblems.set(r.jobId, (problems = new Map()));
      problems.set(r.subtaskIndex, { taskManagerId, problem: r.readProblem });
    }
  }

  private async assignmentsOf(taskManagerId: string): Promise<SubtaskAssignment[]> {
    const out: SubtaskAssignment[] = [];
    for (const job of await this.allJobs()) {
      if (!isActive(job.state)) continue;
      for (const s of job.subtasks) {
        if (s.taskManagerId !== taskManagerId) continue;
        out.push({ cluster: this.options.cluster, jobId: job.id, jobName: job.name, subtaskIndex: s.index, splits: s.splits, ...(s.epoch !== undefined ? { epoch: s.epoch } : {}), ...(job.modelSha256 !== undefined ? { modelSha256: job.modelSha256 } : {}) });
      }
    }
    return out;
  }

  /** Forgets a TaskManager that is shutting down; its subtasks move to the others. */
  async deregister(taskManagerId: string): Promise<void> {
    const removed = await this.exclusive(() => this.options.taskManagers.remove(taskManagerId));
    if (removed === 0) throw notFound(`TaskManager ${taskManagerId}`);
    this.readiness.forget(taskManagerId);
    this.log.members.info({ taskManagerId }, 'jobmanager.taskmanager.deregistered');
    await this.reassign();
  }

  async listTaskManagers(): Promise<TaskManagerList> {
    const [tms, jobs] = await Promise.all([this.options.taskManagers.list(), this.allJobs()]);
    const taskmanagers: TaskManagerInfo[] = tms.map((tm) => {
      const subtasks = jobs
        .filter((j) => isActive(j.state))
        .flatMap((j) => j.subtasks.filter((s) => s.taskManagerId === tm.id).map((s) => ({ jobId: j.id, subtaskIndex: s.index })));
      return { id: tm.id, host: tm.host, slots: tm.slots, freeSlots: Math.max(0, tm.slots - subtasks.length), lastHeartbeat: tm.lastHeartbeat, subtasks, ...(tm.metricsUrl !== undefined ? { metricsUrl: tm.metricsUrl } : {}) };
    });
    return { taskmanagers };
  }

  async overview(): Promise<ClusterOverview> {
    const [{ taskmanagers }, jobs] = await Promise.all([this.listTaskManagers(), this.allJobs()]);
    return {
      cluster: this.options.cluster,
      jobs: jobs.filter((j) => isActive(j.state)).length,
      taskmanagers: taskmanagers.length,
      slotsTotal: taskmanagers.reduce((n, tm) => n + tm.slots, 0),
      slotsAvailable: taskmanagers.reduce((n, tm) => n + tm.freeSlots, 0),
    };
  }

  // ---- scheduling ----

  /**
   * This process was stalled from `from` to `to` (ms since epoch; its event loop blocked): heartbeats sent
   * meanwhile could not be read, so that span does not count as any TaskManager's silence. A TaskManager
   * that really died is still declared lost after a heartbeat timeout of time this process was awake.
   */
  noteStall(from: number, to: number): void {
    if (to > from) this.stalls.push({ from, to });
  }

  /** A TaskManager's last heartbeat, moved later by the stalls since then (see {@link noteStall}). */
  private heardAt(lastHeartbeat: number): number {
    let excused = 0;
    for (const { from, to } of this.stalls) excused += Math.max(0, to - Math.max(from, lastHeartbeat));
    return lastHeartbeat + excused;
  }

  /**
   * Re-runs the assignment: expired TaskManagers are forgotten and lose their subtasks, unassigned
   * subtasks go to free slots, and CREATED jobs whose subtasks all reported ready where they are become RUNNING.
   */
  reassign(): Promise<void> {
    return this.exclusive(async () => {
      const [jobs, registered] = await Promise.all([this.allJobs(), this.options.taskManagers.list()]);
      const now = this.now();
      this.stalls = this.stalls.filter((st) => st.to > now - 2 * this.options.heartbeatTimeoutMs);
      const taskManagers = registered.map((tm) => ({ ...tm, lastHeartbeat: this.heardAt(tm.lastHeartbeat) }));
      const result = assignSubtasks({
        jobs,
        taskManagers,
        now,
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
        notBefore: this.startedAt,
        ready: (jobId, subtask) => this.readiness.isReady(jobId, subtask) === true,
      });
      if (result.expired.length > 0) {
        await this.options.taskManagers.remove(...result.expired);
        for (const id of result.expired) this.log.members.warn({ taskManagerId: id, heartbeatTimeoutMs: this.options.heartbeatTimeoutMs }, 'jobmanager.taskmanager.lost');
      }
      for (const job of jobs) {
        const decided = result.jobs.get(job.id);
        if (!decided) continue;
        // A subtask with no epoch in the record (new, or back after a rescale down) may have one stored.
        const unknown = decided.subtasks.some((d) => d.taskManagerId !== null && job.subtasks.find((b) => b.index === d.index)?.epoch === undefined);
        const next = { ...decided, subtasks: withEpochs(job.subtasks, decided.subtasks, unknown ? await this.options.jobs.epochs(job.id) : undefined) };
        const changed = next.state !== job.state || JSON.stringify(next.subtasks) !== JSON.stringify(job.subtasks);
        if (!changed) continue;
        await this.updateJob(job.id, { state: next.state, subtasks: next.subtasks });
        for (const s of next.subtasks) {
          const before = job.subtasks.find((b) => b.index === s.index)?.taskManagerId ?? null;
          if (before !== s.taskManagerId) {
            this.log.scheduler.info({ jobId: job.id, job: job.name, subtask: s.index, from: before, to: s.taskManagerId, splits: s.splits }, 'jobmanager.subtask.assigned');
          }
        }
        if (next.state !== job.state) this.log.jobs.info({ jobId: job.id, job: job.name, state: next.state }, 'jobmanager.job.state');
      }
    });
  }
}
