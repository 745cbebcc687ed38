import { InputQueue } from '../src/client/input-queue';
import type { JobSummary } from '../src/cluster-api/dto';
import { ClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import type { NativeResult } from '../src/protocol/native/native-codec';
import type { OnnxTensorInfo } from '../src/runtime/onnx-model-info';
import type { Tensor } from '../src/tensor/tensor';
import { loadTopologySource } from '../src/topology/load-topology';
import type { PostprocessSpec, TopologySpec } from '../src/topology/schema';
import type { ControlPlane } from './control-plane';

/** What the gateway reads from the control plane: the job list, a job's status, topology and model info. */
export type JobDirectory = Pick<ControlPlane, 'listJobs' | 'jobStatus' | 'topology' | 'modelInfo'>;

export interface InferenceGatewayOptions {
  /** The cluster's Redis: where a job's stream is when its topology names no `source.address`. */
  readonly redisUrl: string;
  /** Where job topologies are written to be loaded (created if missing). */
  readonly cacheDir: string;
  /** How long an HTTP inference waits for its result when the request sets no timeout, in ms. @default 30000 */
  readonly inferTimeoutMs?: number;
  /** Longest timeout a request may ask for, in ms. @default 300000 */
  readonly maxInferTimeoutMs?: number;
  readonly logger: Logger;
}

/** What a served model declares, as HTTP clients see it: the model file's inputs, and its outputs after the job's postprocess. */
export interface ServedModelInfo {
  readonly inputs: readonly OnnxTensorInfo[];
  readonly outputs: readonly OnnxTensorInfo[];
  /**
   * Inputs that take one encoded image (KServe datatype BYTES) instead of a tensor: with `decode: image`,
   * the model's rank-4 inputs ([N, C, H, W] or [N, H, W, C]); none otherwise.
   */
  readonly imageInputs: ReadonlySet<string>;
}

const DEFAULT_INFER_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_INFER_TIMEOUT_MS = 300_000;

function isActive(job: JobSummary): boolean {
  return job.state === 'CREATED' || job.state === 'RUNNING';
}

/** The outputs a job's results carry: `softmax` makes float outputs FP32; `argmax` turns `o` into `o_argmax`; `topN` into `o_indices` and `o_scores`. */
export function outputsAfterPostprocess(outputs: readonly OnnxTensorInfo[], postprocess: PostprocessSpec): OnnxTensorInfo[] {
  if (postprocess.type === 'none') return [...outputs];
  if (postprocess.type === 'softmax') {
    return outputs.map((o) => (o.dtype === 'float64' || o.dtype === 'float16' ? { ...o, dtype: 'float32', elemType: 'FLOAT' } : o));
  }
  if (postprocess.type === 'argmax') {
    return outputs.map((o) => ({ name: `${o.name}_argmax`, dtype: 'int32', shape: o.shape.slice(0, -1), elemType: 'INT32' }));
  }
  const n = postprocess.n;
  return outputs.flatMap((o) => {
    const last = o.shape[o.shape.length - 1];
    const k = last === undefined || last < 0 ? -1 : Math.min(n, last);
    const shape = o.shape.length === 0 ? [] : [...o.shape.slice(0, -1), k];
    return [
      { name: `${o.name}_indices`, dtype: 'int32', shape, elemType: 'INT32' },
      { name: `${o.name}_scores`, dtype: 'float32', shape, elemType: 'FLOAT' },
    ];
  });
}

/** One job as the gateway serves it: its spec, model info and request queue, each made once. */
class ServedJob {
  private spec: Promise<TopologySpec> | undefined;
  private info: Promise<ServedModelInfo> | undefined;
  private queue: InputQueue | undefined;
  private closed = false;

  constructor(
    /** The job as last listed (its state changes from CREATED to RUNNING). */
    public job: JobSummary,
    private readonly jobs: JobDirectory,
    private readonly options: InferenceGatewayOptions,
  ) {}

  /** The job's validated topology spec (model path absolute), loaded once from the submitted file. */
  topology(): Promise<TopologySpec> {
    this.spec ??= (async () => {
      const source = await this.jobs.topology(this.job.id);
      return (await loadTopologySource(source, this.options.cacheDir)).topology.spec;
    })().catch((err: unknown) => {
      this.spec = undefined;
      throw err;
    });
    return this.spec;
  }

  /**
   * The model's declared inputs and outputs (read once per job by the control plane, from the model file or
   * the JobManager's copy of it), with the outputs the job's postprocess makes. CS_ERR_MODEL_LOAD when
   * neither can be read; not cached then, so a later call tries again.
   */
  modelInfo(): Promise<ServedModelInfo> {
    this.info ??= this.readModelInfo().catch((err: unknown) => {
      this.info = undefined;
      throw err;
    });
    return this.info;
  }

  private async readModelInfo(): Promise<ServedModelInfo> {
    const [spec, info] = await Promise.all([this.topology(), this.jobs.modelInfo(this.job.id)]);
    const imageInputs = new Set(spec.decode.type === 'image' ? info.inputs.filter((i) => i.shape.length === 4).map((i) => i.name) : []);
    return { inputs: info.inputs, outputs: outputsAfterPostprocess(info.outputs, spec.postprocess), imageInputs };
  }

  /** Ready: RUNNING, with every subtask on a TaskManager. */
  async ready(): Promise<boolean> {
    const status = await this.jobs.jobStatus(this.job.id);
    return status.state === 'RUNNING' && status.subtasks.length > 0 && status.subtasks.every((s) => s.taskManagerId !== null);
  }

  /** Sends one request into the job's stream and waits for its result (outputs or error). */
  async predict(inputs: ReadonlyMap<string, Tensor>, timeoutMs: number): Promise<NativeResult> {
    if (this.job.state !== 'RUNNING') {
      throw new ClusterServingError('CS_ERR_CLOSED', `model ${this.job.name} is not ready: job ${this.job.id} is ${this.job.state} (waiting for a free TaskManager slot)`, { context: { jobId: this.job.id } });
    }
    const queue = await this.inputQueue();
    return queue.predictResult(inputs, { timeoutMs });
  }

  private async inputQueue(): Promise<InputQueue> {
    if (this.queue) return this.queue;
    const spec = await this.topology();
    const { source, sink } = spec;
    const refuse = (why: string): never => {
      throw new ClusterServingError('CS_ERR_BAD_REQUEST', `model ${this.job.name} cannot take HTTP inference requests: ${why}`, { context: { jobId: this.job.id } });
    };
    if (source.type !== 'redis') return refuse(`its requests come from ${source.type}, and HTTP requests go into a Redis stream`);
    if (source.protocol !== 'native') return refuse(`its stream speaks the ${source.protocol} protocol, not native`);
    const redis = source.address ?? this.options.redisUrl;
    if (sink.type !== 'redis' || (sink.address ?? this.options.redisUrl) !== redis) return refuse('its results are not written to the Redis its stream is on');
    if (this.closed) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is closing');
    // Another request may have created it while the topology loaded.
    this.queue ??= new InputQueue({ redis, stream: source.stream ?? spec.name, partitions: source.partitions });
    return this.queue;
  }

  async close(): Promise<void> {
    this.closed = true;
    const queue = this.queue;
    this.queue = undefined;
    await queue?.close();
  }
}

/**
 * What the KServe v2 REST API serves, on the JobManager: each model is a job, named by the job's name
 * (the newest CREATED or RUNNING job of that name). Metadata comes from the job's model file, read once
 * per job without creating an inference session. Inference requests are not run here: each goes INTO
 * the job's stream as a native request (`XADD <split> * uri <uuid> data <Avro request>`, with this
 * gateway's reply stream), so HTTP traffic is batched with the stream traffic by the TaskManagers. One
 * InputQueue per job, shared by every HTTP request, closed with the gateway.
 *
 * @example
 * const gateway = new InferenceGateway(control, { redisUrl, cacheDir, logger });
 * const served = await gateway.resolve('tiny');
 * const result = await served.predict(inputs, 10_000);
 * await gateway.close();
 */
export class InferenceGateway {
  private readonly served = new Map<string, ServedJob>();
  private closed = false;
  readonly inferTimeoutMs: number;
  readonly maxInferTimeoutMs: number;

  constructor(
    private readonly jobs: JobDirectory,
    private readonly options: InferenceGatewayOptions,
  ) {
    this.inferTimeoutMs = options.inferTimeoutMs ?? DEFAULT_INFER_TIMEOUT_MS;
    this.maxInferTimeoutMs = options.maxInferTimeoutMs ?? DEFAULT_MAX_INFER_TIMEOUT_MS;
  }

  /** The served model of this name: CS_ERR_NOT_FOUND when no CREATED or RUNNING job has it. */
  async resolve(name: string): Promise<ServedJob> {
    if (this.closed) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is closing');
    const { jobs } = await this.jobs.listJobs();
    this.forgetEnded(jobs);
    let job: JobSummary | undefined;
    for (const j of jobs) if (j.name === name && isActive(j) && (!job || j.submittedAt >= job.submittedAt)) job = j;
    if (!job) throw new ClusterServingError('CS_ERR_NOT_FOUND', `unknown model "${name}": no running job has that name`);
    let served = this.served.get(job.id);
    if (!served) {
      served = new ServedJob(job, this.jobs, this.options);
      this.served.set(job.id, served);
    }
    served.job = job;
    return served;
  }

  /** Ready when every CREATED or RUNNING job is ready (see {@link ServedJob.ready}); true with no jobs. */
  async serverReady(): Promise<boolean> {
    if (this.closed) return false;
    const { jobs } = await this.jobs.listJobs();
    const active = jobs.filter(isActive);
    if (active.some((j) => j.state !== 'RUNNING')) return false;
    for (const job of active) if (!(await (this.served.get(job.id) ?? new ServedJob(job, this.jobs, this.options)).ready())) return false;
    return true;
  }

  /** A request's deadline: its own timeout (capped), else the default. */
  timeoutMs(requested: number | undefined): number {
    return requested === undefined ? this.inferTimeoutMs : Math.min(requested, this.maxInferTimeoutMs);
  }

  /** Drops (and closes the queue of) jobs that ended. */
  private forgetEnded(jobs: readonly JobSummary[]): void {
    const active = new Set(jobs.filter(isActive).map((j) => j.id));
    for (const [id, served] of this.served) {
      if (active.has(id)) continue;
      this.served.delete(id);
      void served.close().catch((err: unknown) => this.options.logger.warn({ jobId: id, err }, 'jobmanager.kserve.queue_close_failed'));
    }
  }

  /** Closes every job's queue (pending inferences fail with CS_ERR_CLOSED). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.served.values()];
    this.served.clear();
    await Promise.all(all.map((s) => s.close().catch(() => undefined)));
  }
}

export type { ServedJob };
