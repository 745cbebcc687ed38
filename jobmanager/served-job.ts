import type { JobSummary } from '../src/cluster-api/dto';
import { ClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import type { NativeResult } from '../src/protocol/native/native-codec';
import type { OnnxTensorInfo } from '../src/runtime/onnx-model-info';
import type { Tensor } from '../src/tensor/tensor';
import type { PostprocessSpec, TopologySpec } from '../src/topology/schema';
import type { ControlPlane } from './control-plane';
import { JobStreamClient } from './job-stream-client';
import { servesNow } from '../src/cluster-api/serves-now';

/** What the gateway reads from the control plane: the job list, a job's status, topology and model info. */
export type JobDirectory = Pick<ControlPlane, 'listJobs' | 'jobStatus' | 'jobSpec' | 'modelInfo'>;

export interface InferenceGatewayOptions {
  /** The cluster's Redis: where a job's stream is when its topology names no `source.address`. */
  readonly redisUrl: string;
  /** Where job topologies are written to be loaded (created if missing). */
  readonly cacheDir: string;
  /** How long an inference waits for its result when the request sets no timeout, in ms. @default 30000 */
  readonly inferTimeoutMs?: number;
  /** Longest timeout a request may ask for, in ms. @default 300000 */
  readonly maxInferTimeoutMs?: number;
  readonly logger: Logger;
}

/** What a served model declares, as HTTP and gRPC clients see it: the model file's inputs, and its outputs after the job's postprocess. */
export interface ServedModelInfo {
  readonly inputs: readonly OnnxTensorInfo[];
  readonly outputs: readonly OnnxTensorInfo[];
  /**
   * Inputs that take one encoded image (KServe datatype BYTES) instead of a tensor: with `decode: image`,
   * the model's rank-4 inputs ([N, C, H, W] or [N, H, W, C]); none otherwise.
   */
  readonly imageInputs: ReadonlySet<string>;
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

/** One job as the gateway serves it: its spec, model info and stream client, each made once. */
export class ServedJob {
  private spec: Promise<TopologySpec> | undefined;
  private info: Promise<ServedModelInfo> | undefined;
  private stream: JobStreamClient | undefined;
  private closed = false;

  constructor(
    /** The job as last listed (its state changes from CREATED to RUNNING). */
    public job: JobSummary,
    private readonly jobs: JobDirectory,
    private readonly options: InferenceGatewayOptions,
  ) {}

  /** The job's validated topology spec (model path absolute), loaded once from the submitted file. */
  topology(): Promise<TopologySpec> {
    this.spec ??= this.jobs.jobSpec(this.job.id).catch((err: unknown) => {
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

  /** Ready: RUNNING (every subtask reported it can serve), with every subtask on a TaskManager (see servesNow). */
  async ready(): Promise<boolean> {
    const status = await this.jobs.jobStatus(this.job.id);
    return servesNow(status.state, status.subtasks);
  }

  /** Sends one request into the job's stream and waits for its result (outputs or error). */
  predict(inputs: ReadonlyMap<string, Tensor>, timeoutMs: number): Promise<NativeResult> {
    // DEGRADED is RUNNING with a subtask that cannot read right now: the request waits in the stream.
    if (this.job.state !== 'RUNNING' && this.job.state !== 'DEGRADED') {
      return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', `model ${this.job.name} is not ready: job ${this.job.id} is ${this.job.state} (waiting for a free TaskManager slot)`, { context: { jobId: this.job.id } }));
    }
    // After the first request the stream client exists: no await on the hot path.
    if (this.stream) return this.stream.predict(inputs, timeoutMs);
    return this.streamClient().then((stream) => stream.predict(inputs, timeoutMs));
  }

  private async streamClient(): Promise<JobStreamClient> {
    if (this.stream) return this.stream;
    const spec = await this.topology();
    const { source, sink } = spec;
    const refuse = (why: string): never => {
      throw new ClusterServingError('CS_ERR_BAD_REQUEST', `model ${this.job.name} cannot take HTTP or gRPC inference requests: ${why}`, { context: { jobId: this.job.id } });
    };
    if (source.type !== 'redis') return refuse(`its requests come from ${source.type}, and these requests go into a Redis stream`);
    if (source.protocol !== 'native') return refuse(`its stream speaks the ${source.protocol} protocol, not native`);
    const redis = source.address ?? this.options.redisUrl;
    if (sink.type !== 'redis' || (sink.address ?? this.options.redisUrl) !== redis) return refuse('its results are not written to the Redis its stream is on');
    if (this.closed) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is closing');
    // Another request may have created it while the topology loaded.
    this.stream ??= new JobStreamClient({ redis, stream: source.stream ?? spec.name, partitions: source.partitions, logger: this.options.logger });
    return this.stream;
  }

  async close(): Promise<void> {
    this.closed = true;
    const stream = this.stream;
    this.stream = undefined;
    await stream?.close();
  }
}
