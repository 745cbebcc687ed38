import type {
  ErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  JobCheckpoints,
  JobList,
  JobStatus,
  RegisterTaskManagerRequest,
  RegisterTaskManagerResponse,
  SubmitJobResponse,
  TaskManagerList,
  TopologySource,
} from './dto';
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

  submitJob(topology: TopologySource): Promise<SubmitJobResponse> {
    return this.request('POST', '/jobs', { topology });
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

  private async send(method: string, path: string, body: unknown, timeoutMs: number): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new ConnectorError(`cannot reach the JobManager at ${this.baseUrl}: ${describeFetchError(err)}`, { cause: err });
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body, this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
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
