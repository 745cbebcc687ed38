import type { FastifyInstance } from 'fastify';
import type { JobList, JobStatus, SubmitJobResponse, TopologySource } from '../../src/cluster-api/dto';
import { ClusterServingError } from '../../src/errors';
import type { ControlPlane } from '../control-plane';
import { parseSubmitJobRequest } from './request-bodies';

interface JobParams {
  jobId: string;
}

/**
 * The jobs resource (Flink's paths):
 * `POST /jobs`, `GET /jobs`, `GET /jobs/:jobId`, `GET /jobs/:jobId/topology`,
 * `PATCH /jobs/:jobId?mode=cancel` and `DELETE /jobs/:jobId` (both cancel).
 */
export function registerJobRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.post('/jobs', async (request): Promise<SubmitJobResponse> => {
    const { topology } = parseSubmitJobRequest(request.body);
    return control.submit(topology);
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
}
