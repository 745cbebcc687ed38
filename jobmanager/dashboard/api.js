/**
 * The dashboard's calls to the JobManager's REST API (src/cluster-api/dto.ts), with the bearer token
 * when one was given: kept in sessionStorage (this tab only, gone when it closes), never in the URL.
 * Paths are relative, so the dashboard also works behind a proxy that serves it under a prefix.
 */

const TOKEN_KEY = 'cluster-serving.token';

/** A non-2xx answer: the HTTP status and the API's ErrorBody ({code, message}) when it sent one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body && typeof body.code === 'string' ? body.code : undefined;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** One API call: JSON out; throws ApiError for a non-2xx answer (a network failure throws TypeError). */
export async function api(path, method = 'GET') {
  const headers = { accept: 'application/json' };
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const id = (jobId) => encodeURIComponent(jobId);

export const getOverview = () => api('overview');
export const getJobs = () => api('jobs');
export const getTaskManagers = () => api('taskmanagers');
export const getJob = (jobId) => api(`jobs/${id(jobId)}`);
export const getCheckpoints = (jobId) => api(`jobs/${id(jobId)}/checkpoints`);
/** `since`: ms since epoch of the newest point already held (undefined: every kept point). */
export const getMetrics = (jobId, since) => api(`jobs/${id(jobId)}/metrics${since === undefined ? '' : `?since=${since}`}`);
export const cancelJob = (jobId) => api(`jobs/${id(jobId)}?mode=cancel`, 'PATCH');
export const rescaleJob = (jobId, parallelism) => api(`jobs/${id(jobId)}/rescaling?parallelism=${parallelism}`, 'PATCH');
