import type {
  ErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  JobCheckpoints,
  JobList,
  JobStatus,
  ModelUploadResponse,
  RegisterTaskManagerRequest,
  RegisterTaskManagerResponse,
  SubmitJobRequest,
  SubmitJobResponse,
  TaskManagerList,
  TopologySource,
} from './dto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ClusterServingError, ConnectorError, TopologyError, isErrorCode } from '../errors';

/** How long a REST call waits for the JobManager to answer, in ms. @default 10000 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** How long a model download may take in all, in ms (models can be large). @default 600000 */
export const MODEL_DOWNLOAD_TIMEOUT_MS = 600_000;

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ErrorBody).code === 'string' && typeof (value as ErrorBody).message === 'string';
}

/**
 * A typed HTTP client of the JobManager's REST API (paths and bodies in ./dto.ts), used by the
 * TaskManagers and the CLI. Errors: an unreachable JobManager is a retriable {@link ConnectorError}; an
 * error answer becomes the {@link ClusterServingError} of its `code` (a {@link TopologyError} with every
 * problem for an invalid topology).
 *
 * @example
 * const jm = new JobManagerClient('http://127.0.0.1:8081');
 * const { jobId } = await jm.submitJob({ filename: 'tiny.yaml', source, baseDir: '/srv' });
 */
export class JobManagerClient {
  readonly baseUrl: string;

  constructor(baseUrl: string, private readonly options: { timeoutMs?: number } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /**
   * `POST /jobs`. `options.modelSha256` names a model uploaded before ({@link uploadModel});
   * `options.submitId` makes a retry answer the same job; `options.timeoutMs` replaces the client's
   * timeout for this call (a TypeScript topology is type-checked before the answer).
   */
  submitJob(topology: TopologySource, options: Omit<SubmitJobRequest, 'topology'> & { timeoutMs?: number } = {}): Promise<SubmitJobResponse> {
    const { timeoutMs, ...rest } = options;
    return this.request('POST', '/jobs', { topology, ...rest }, timeoutMs);
  }

  listJobs(): Promise<JobList> {
    return this.request('GET', '/jobs');
  }

  jobStatus(jobId: string): Promise<JobStatus> {
    return this.request('GET', `/jobs/${encodeURIComponent(jobId)}`);
  }

  /** `GET /jobs/:jobId/checkpoints`: per split, the offset up to which every result is written. */
  checkpoints(jobId: string): Promise<JobCheckpoints> {
    return this.request('GET', `/jobs/${encodeURIComponent(jobId)}/checkpoints`);
  }

  jobTopology(jobId: string): Promise<TopologySource> {
    return this.request('GET', `/jobs/${encodeURIComponent(jobId)}/topology`);
  }

  cancelJob(jobId: string): Promise<JobStatus> {
    return this.request('PATCH', `/jobs/${encodeURIComponent(jobId)}?mode=cancel`);
  }

  /** Changes a running job's parallelism (1..1024); answers its new status. */
  rescaleJob(jobId: string, parallelism: number): Promise<JobStatus> {
    return this.request('PATCH', `/jobs/${encodeURIComponent(jobId)}/rescaling?parallelism=${encodeURIComponent(String(parallelism))}`);
  }

  /**
   * `GET /jobs/:jobId/model`: the bytes of the job's model file as the JobManager holds it, as a stream
   * (read it to the end or cancel it). CS_ERR_NOT_FOUND when the JobManager holds no copy.
   */
  async jobModel(jobId: string): Promise<ReadableStream<Uint8Array>> {
    const path = `/jobs/${encodeURIComponent(jobId)}/model`;
    const response = await this.send('GET', path, undefined, MODEL_DOWNLOAD_TIMEOUT_MS);
    if (response.ok && response.body) return response.body;
    throw this.errorOf('GET', path, response, await response.text());
  }

  /**
   * `GET /models/:sha256`: the bytes of a model the JobManager holds, by content hash, as a stream (read it
   * to the end or cancel it; check the hash of what arrives). CS_ERR_NOT_FOUND when it holds none.
   */
  async modelByHash(sha256: string): Promise<ReadableStream<Uint8Array>> {
    const path = `/models/${encodeURIComponent(sha256)}`;
    const response = await this.send('GET', path, undefined, MODEL_DOWNLOAD_TIMEOUT_MS);
    if (response.ok && response.body) return response.body;
    throw this.errorOf('GET', path, response, await response.text());
  }

  /** `HEAD /models/:sha256`: whether the JobManager holds the model of this content hash. */
  async hasModel(sha256: string): Promise<boolean> {
    const path = `/models/${encodeURIComponent(sha256)}`;
    const response = await this.send('HEAD', path, undefined, this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    if (response.ok) return true;
    if (response.status === 404) return false;
    throw this.errorOf('HEAD', path, response, '');
  }

  /**
   * `PUT /models/:sha256`: uploads a model file (streamed from disk); the JobManager refuses bytes that
   * do not hash to `sha256`.
   */
  async uploadModel(sha256: string, file: string): Promise<ModelUploadResponse> {
    const path = `/models/${encodeURIComponent(sha256)}`;
    const response = await this.send('PUT', path, undefined, MODEL_DOWNLOAD_TIMEOUT_MS, Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>);
    const text = await response.text();
    if (response.ok) return parseJson(text) as ModelUploadResponse;
    throw this.errorOf('PUT', path, response, text);
  }

  registerTaskManager(request: RegisterTaskManagerRequest): Promise<RegisterTaskManagerResponse> {
    return this.request('POST', '/taskmanagers', request);
  }

  heartbeat(taskManagerId: string, request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.request('POST', `/taskmanagers/${encodeURIComponent(taskManagerId)}/heartbeat`, request);
  }

  async deregisterTaskManager(taskManagerId: string): Promise<void> {
    await this.request<unknown>('DELETE', `/taskmanagers/${encodeURIComponent(taskManagerId)}`);
  }

  listTaskManagers(): Promise<TaskManagerList> {
    return this.request('GET', '/taskmanagers');
  }

  /** One HTTP call: `body` goes as JSON, or `upload` as raw bytes (streamed). */
  private async send(method: string, path: string, body: unknown, timeoutMs: number, upload?: ReadableStream<Uint8Array>): Promise<Response> {
    try {
      const init: RequestInit & { duplex?: 'half' } = {
        method,
        headers: upload !== undefined ? { 'content-type': 'application/octet-stream' } : body === undefined ? {} : { 'content-type': 'application/json' },
        body: upload ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: AbortSignal.timeout(timeoutMs),
        ...(upload !== undefined ? { duplex: 'half' as const } : {}),
      };
      return await fetch(`${this.baseUrl}${path}`, init);
    } catch (err) {
      throw new ConnectorError(`cannot reach the JobManager at ${this.baseUrl}: ${describeFetchError(err)}`, { cause: err });
    }
  }

  private async request<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const response = await this.send(method, path, body, timeoutMs ?? this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    const text = await response.text();
    if (response.ok) return (text === '' ? undefined : parseJson(text)) as T;
    throw this.errorOf(method, path, response, text);
  }

  /** The error an answer that is not OK stands for. */
  private errorOf(method: string, path: string, response: Response, text: string): ClusterServingError {
    const url = `${this.baseUrl}${path}`;
    const payload = text === '' ? undefined : parseJson(text);
    if (isErrorBody(payload)) {
      if (payload.code === 'CS_ERR_TOPOLOGY' && payload.problems) return new TopologyError(payload.problems);
      const code = isErrorCode(payload.code) ? payload.code : 'CS_ERR_INTERNAL';
      return new ClusterServingError(code, payload.message, { retriable: response.status >= 500 && response.status !== 501 });
    }
    return new ClusterServingError('CS_ERR_INTERNAL', `${method} ${url} answered HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`, {
      retriable: response.status >= 500,
    });
  }
}

/** JSON.parse, or undefined for text that is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** undici hides the reason in `cause` ("fetch failed" → "connect ECONNREFUSED 127.0.0.1:8081"). */
function describeFetchError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return code === 'ECONNREFUSED' ? 'connection refused' : cause.message;
  }
  return err instanceof Error ? err.message : String(err);
}
