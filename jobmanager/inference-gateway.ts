import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobSummary } from '../src/cluster-api/dto';
import { ClusterServingError, isErrorCode } from '../src/errors';
import { packageRoot } from '../src/package-root';
import { checkInferInputs } from '../src/protocol/kserve-v2/check-infer-inputs';
import type { InferRequest } from '../src/protocol/kserve-v2/decode-infer-request';
import { SERVER_EXTENSIONS, type ModelMetadataResponse, type ServerMetadataResponse } from '../src/protocol/kserve-v2/messages';
import { MODEL_VERSION, modelMetadata } from '../src/protocol/kserve-v2/model-metadata';
import type { NamedTensors } from '../src/tensor/tensor';
import { ServedJob, type InferenceGatewayOptions, type JobDirectory, type ServedModelInfo } from './served-job';

export { outputsAfterPostprocess, type InferenceGatewayOptions, type JobDirectory, type ServedModelInfo } from './served-job';
export type { ServedJob };

const DEFAULT_INFER_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_INFER_TIMEOUT_MS = 300_000;

/** The server's name in server metadata (`GET /v2`, gRPC ServerMetadata). */
export const SERVER_NAME = 'cluster-serving';

let version: string | undefined;
/** This package's version, for server metadata. */
function serverVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  return version;
}

function isActive(job: JobSummary): boolean {
  return job.state === 'CREATED' || job.state === 'RUNNING' || job.state === 'DEGRADED';
}

/** The request fields an inference needs, whichever API it came through. */
export type GatewayInferRequest = Pick<InferRequest, 'inputs' | 'bytesInputs' | 'timeoutMs'>;

/** A finished inference: the model's name and version, and the outputs of its result. */
export interface GatewayInferResult {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly jobId: string;
  readonly outputs: NamedTensors;
}

/**
 * What the KServe v2 APIs serve, on the JobManager, shared by HTTP (jobmanager/rest/kserve-v2.ts) and
 * gRPC (jobmanager/grpc/): each model is a job, named by the job's name (the newest CREATED or RUNNING
 * job of that name), with one version, "1". Metadata comes from the job's model file, read once per job
 * without creating an inference session. Inference requests are checked against that metadata, then
 * not run here: each goes INTO the job's stream as a native request with this gateway's reply stream
 * (see {@link JobStreamClient}), so HTTP and gRPC traffic is batched with the stream traffic by the
 * TaskManagers. One stream client per job, shared by every request, closed with the gateway.
 *
 * Every failure is a ClusterServingError whose code each API maps to its own status (CS_ERR_NOT_FOUND:
 * unknown model or version; CS_ERR_SHAPE / CS_ERR_BAD_REQUEST: a request that does not fit the model).
 *
 * @example
 * const gateway = new InferenceGateway(control, { redisUrl, cacheDir, logger });
 * const { outputs } = await gateway.infer('tiny', undefined, decodeInferRequest(body, undefined));
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

  /** The served model of this name: CS_ERR_NOT_FOUND when no CREATED or RUNNING job has it, or it has no such version. */
  async resolve(name: string, modelVersion?: string): Promise<ServedJob> {
    if (modelVersion !== undefined && modelVersion !== '' && modelVersion !== MODEL_VERSION) {
      throw new ClusterServingError('CS_ERR_NOT_FOUND', `model "${name}" has no version "${modelVersion}" (its only version is ${MODEL_VERSION})`);
    }
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

  /** Server metadata: name, version and the protocol extensions served. */
  serverMetadata(): ServerMetadataResponse {
    return { name: SERVER_NAME, version: serverVersion(), extensions: [...SERVER_EXTENSIONS] };
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

  /** Whether the model can be inferred now; CS_ERR_NOT_FOUND for an unknown model or version. */
  async modelReady(name: string, modelVersion?: string): Promise<boolean> {
    return (await this.resolve(name, modelVersion)).ready();
  }

  /** The model's metadata; an input that takes an encoded image shows as what a client sends it: one BYTES element. */
  async modelMetadata(name: string, modelVersion?: string): Promise<ModelMetadataResponse> {
    const served = await this.resolve(name, modelVersion);
    const info = await served.modelInfo();
    const inputs = info.inputs.map((i) => (info.imageInputs.has(i.name) ? { name: i.name, dtype: undefined, elemType: 'STRING', shape: [1] } : i));
    return modelMetadata(served.job.name, inputs, info.outputs);
  }

  /**
   * One inference: the inputs are checked against the model's metadata (when the JobManager can read the
   * model file), sent into the job's stream, and the result awaited. An error result rejects with its
   * code. `deadlineMs` (the transport's own deadline, e.g. gRPC's) caps the request's timeout.
   */
  async infer(name: string, modelVersion: string | undefined, request: GatewayInferRequest, deadlineMs?: number): Promise<GatewayInferResult> {
    const served = await this.resolve(name, modelVersion);
    const info = await this.modelInfoIfReadable(served);
    if (info) checkInferInputs(request.inputs, info.inputs, { sent: request.bytesInputs, taken: info.imageInputs });
    let timeoutMs = this.timeoutMs(request.timeoutMs);
    if (deadlineMs !== undefined) timeoutMs = Math.max(1, Math.min(timeoutMs, deadlineMs));
    const result = await served.predict(request.inputs, timeoutMs);
    if (result.error) {
      const { code, message } = result.error;
      throw new ClusterServingError(isErrorCode(code) ? code : 'CS_ERR_INTERNAL', message, { context: { jobId: served.job.id } });
    }
    return { modelName: served.job.name, modelVersion: MODEL_VERSION, jobId: served.job.id, outputs: result.outputs };
  }

  /**
   * The model's metadata when the JobManager can read its model file; undefined otherwise (inference
   * then goes ahead and the TaskManager checks the inputs against the loaded model).
   */
  private async modelInfoIfReadable(served: ServedJob): Promise<ServedModelInfo | undefined> {
    try {
      return await served.modelInfo();
    } catch (err) {
      if (!(err instanceof ClusterServingError) || err.code !== 'CS_ERR_MODEL_LOAD') throw err;
      this.options.logger.debug({ jobId: served.job.id, reason: err.message }, 'jobmanager.kserve.metadata_unavailable');
      return undefined;
    }
  }

  /** A request's deadline: its own timeout (capped), else the default. */
  timeoutMs(requested: number | undefined): number {
    return requested === undefined ? this.inferTimeoutMs : Math.min(requested, this.maxInferTimeoutMs);
  }

  /** Drops (and closes the stream client of) jobs that ended. */
  private forgetEnded(jobs: readonly JobSummary[]): void {
    if (this.served.size === 0) return;
    for (const [id, served] of this.served) {
      if (jobs.some((j) => j.id === id && isActive(j))) continue;
      this.served.delete(id);
      void served.close().catch((err: unknown) => this.options.logger.warn({ jobId: id, err }, 'jobmanager.kserve.queue_close_failed'));
    }
  }

  /** Closes every job's stream client (pending inferences fail with CS_ERR_CLOSED). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.served.values()];
    this.served.clear();
    await Promise.all(all.map((s) => s.close().catch(() => undefined)));
  }
}
