import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { JobList, JobStatus, SubmitJobResponse, TopologySource } from '../../src/cluster-api/dto';
import { ClusterServingError } from '../../src/errors';
import type { ControlPlane } from '../control-plane';
import { JobStateConflict } from '../job-state-conflict';
import { toErrorReply } from './error-handler';
import { parseSubmitJobRequest } from './request-bodies';

interface JobParams {
  jobId: string;
}

/** Most subtasks a job may have (as the topology schema's `parallelism`). */
export const MAX_PARALLELISM = 1024;

/** Checks the `parallelism` query parameter of a rescale: an integer in 1..{@link MAX_PARALLELISM}. */
export function parseParallelism(value: unknown): number {
  const text = typeof value === 'string' ? value.trim() : '';
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARALLELISM) {
    const given = value === undefined ? 'missing' : `"${String(value)}"`;
    throw new ClusterServingError('CS_ERR_BAD_REQUEST', `parallelism must be an integer from 1 to ${MAX_PARALLELISM} (?parallelism=N), got ${given}`);
  }
  return n;
}

/**
 * The jobs resource (Flink's paths):
 * `POST /jobs`, `GET /jobs`, `GET /jobs/:jobId`, `GET /jobs/:jobId/topology`, `GET /jobs/:jobId/model`
 * (the model file's bytes), `PATCH /jobs/:jobId?mode=cancel` and `DELETE /jobs/:jobId` (both cancel),
 * `PATCH /jobs/:jobId/rescaling?parallelism=N` (409 for a canceled or failed job).
 */
export function registerJobRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.post('/jobs', async (request): Promise<SubmitJobResponse> => {
    const { topology, ...rest } = parseSubmitJobRequest(request.body);
    return control.submit(topology, rest);
  });

  app.get('/jobs', async (): Promise<JobList> => control.listJobs());

  app.get<{ Params: JobParams }>('/jobs/:jobId', async (request): Promise<JobStatus> => control.jobStatus(request.params.jobId));

  app.get<{ Params: JobParams }>('/jobs/:jobId/topology', async (request): Promise<TopologySource> => control.topology(request.params.jobId));

  app.patch<{ Params: JobParams; Querystring: { mode?: string } }>('/jobs/:jobId', async (request): Promise<JobStatus> => {
    const mode = request.query.mode ?? 'cancel';
    if (mode !== 'cancel') throw new ClusterServingError('CS_ERR_BAD_REQUEST', `unknown mode "${mode}" (only "cancel")`);
    return control.cancel(request.params.jobId);
  });

  app.delete<{ Params: JobParams }>('/jobs/:jobId', async (request): Promise<JobStatus> => control.cancel(request.params.jobId));

  app.patch<{ Params: JobParams; Querystring: { parallelism?: string } }>('/jobs/:jobId/rescaling', async (request, reply) => {
    const parallelism = parseParallelism(request.query.parallelism);
    try {
      return await control.rescale(request.params.jobId, parallelism);
    } catch (err) {
      if (err instanceof JobStateConflict) return reply.status(409).send(toErrorReply(err).body);
      throw err;
    }
  });

  app.get<{ Params: JobParams }>('/jobs/:jobId/model', async (request, reply) => {
    const model = await control.model(request.params.jobId);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(model.bytes))
      .header('etag', `"${model.sha256}"`)
      .send(createReadStream(model.path));
  });
}
