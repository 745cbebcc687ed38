import type {
  ErrorBody,
  HeartbeatRequest,
  HeartbeatResponse,
  JobCheckpoints,
  JobList,
  JobMetrics,
  JobStatus,
  ModelUploadResponse,
  RegisterTaskManagerRequest,
  RegisterTaskManagerResponse,
  SubmitJobRequest,
  SubmitJobResponse,
  TaskManagerList,
  TopologySource,
} from './dto';
import { Agent } from 'undici';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ClusterServingError, ConnectorError, TopologyError, isErrorCode } from '../errors';

/** How a {@link JobManagerClient} reaches the JobManager. */
export interface JobManagerClientOptions {
  /** How long a REST call waits for an answer, in ms. @default DEFAULT_REQUEST_TIMEOUT_MS */
  readonly timeoutMs?: number | undefined;
  /** Sent as `Authorization: Bearer <token>` on every call; none: no header. */
  readonly token?: string | undefined;
  /** PEM CA certificate(s) trusted for an https URL instead of the system's (`--ca FILE` / `CS_CA_FILE`). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

/** Node's codes of a TLS certificate that cannot be verified (the connection is refused before any request). */
const CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** How long a REST call waits for the JobManager to answer, in ms. @default 10000 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** How long a model download may take in all, in ms (models can be large). @default 600000 */
export const MODEL_DOWNLOAD_TIMEOUT_MS = 600_000;

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ErrorBody).code === 'string' && typeof (value as ErrorBody).message === 'string';
}

/**
 * A typed HTTP client of the JobManager's REST API (paths and bodies in ./dto.ts), used by the
 * TaskManagers and the CLI, over http or https (`ca` replaces the system's CAs). Errors: an unreachable
 * JobManager is a retriable {@link ConnectorError}; a certificate that cannot be verified a ConnectorError
 * that is not retriable and says which flag fixes it; an error answer becomes the
 * {@link ClusterServingError} of its `code` (a {@link TopologyError} with every problem for an invalid
 * topology; CS_ERR_UNAUTHENTICATED for a missing or wrong token).
 *
 * @example
 * const jm = new JobManagerClient('https://jm.example:8081', { token: process.env.CS_TOKEN, ca: readFileSync('ca.pem') });
 * const { jobId } = await jm.submitJob({ filename: 'tiny.yaml', source, baseDir: '/srv' });
 */
export class JobManagerClient {
  readonly baseUrl: string;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly dispatcher: Agent | undefined;

  constructor(baseUrl: string, private readonly options: JobManagerClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.headers = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
    this.dispatcher = options.ca === undefined ? undefined : new Agent({ connect: { ca: options.ca as string | Buffer | (string | Buffer)[] } });
  }

  /** The same JobManager, token and CA with another request timeout. */
  withTimeout(timeoutMs: number): JobManagerClient {
    return new JobManagerClient(this.baseUrl, { ...this.options, timeoutMs });
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

  /**
   * `GET /jobs/:jobId/metrics`: the job's live figures (throughput, errors, latency percentiles, batch
   * size, lag), one point per second for the last ten minutes; with `since` (ms since epoch) only the
   * points after it.
   */
  jobMetrics(jobId: string, since?: number): Promise<JobMetrics> {
    const query = since === undefined ? '' : `?since=${encodeURIComponent(String(Math.floor(since)))}`;
    return this.request('GET', `/jobs/${encodeURIComponent(jobId)}/metrics${query}`);
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
      const init: RequestInit & { dispatcher?: Agent; duplex?: 'half' } = {
        method,
        headers: upload !== undefined ? { ...this.headers, 'content-type': 'application/octet-stream' } : body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
        body: upload ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: AbortSignal.timeout(timeoutMs),
        ...(upload !== undefined ? { duplex: 'half' as const } : {}),
      };
      if (this.dispatcher) init.dispatcher = this.dispatcher;
      return await fetch(`${this.baseUrl}${path}`, init);
    } catch (err) {
      const certificate = certificateProblem(err);
      if (certificate !== undefined) {
        const fix = certificate.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'use the host name the certificate names in the URL' : 'give the CA that signed it with --ca FILE (CS_CA_FILE)';
        throw new ClusterServingError('CS_ERR_CONNECTOR', `cannot verify the TLS certificate of the JobManager at ${this.baseUrl} (${certificate.message}): ${fix}`, { cause: err, retriable: false });
      }
      const code = causeCode(err);
      if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
        throw new ClusterServingError('CS_ERR_CONNECTOR', `the JobManager at ${this.baseUrl} does not answer TLS: use an http:// URL, or start it with --tls-cert and --tls-key`, { cause: err, retriable: false });
      }
      const hint = code === 'UND_ERR_SOCKET' && this.baseUrl.startsWith('http:') ? ' (if it serves https, use an https:// URL)' : '';
      throw new ConnectorError(`cannot reach the JobManager at ${this.baseUrl}: ${describeFetchError(err)}${hint}`, { cause: err });
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
    // A HEAD answer has no body to say why: a 401 is still the token's fault.
    if (response.status === 401) {
      const message = this.options.token === undefined
        ? 'this JobManager requires a bearer token (Authorization: Bearer <token>): pass it with --token-file FILE (CS_TOKEN_FILE) or CS_TOKEN'
        : 'the bearer token is not the one this JobManager requires';
      return new ClusterServingError('CS_ERR_UNAUTHENTICATED', message, { retriable: false });
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

/** The `code` of the error undici wraps in a failed fetch's `cause`. */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  const code = cause instanceof Error ? (cause as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** The certificate failure behind a failed fetch, if that is what it was. */
function certificateProblem(err: unknown): { code: string; message: string } | undefined {
  const code = causeCode(err);
  if (code === undefined || !CERTIFICATE_ERRORS.has(code)) return undefined;
  return { code, message: ((err as Error & { cause: Error }).cause).message };
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
