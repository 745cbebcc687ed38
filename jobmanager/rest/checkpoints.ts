import type { FastifyInstance } from 'fastify';
import type { JobCheckpoints } from '../../src/cluster-api/dto';
import type { ControlPlane } from '../control-plane';

/**
 * `GET /jobs/:jobId/checkpoints` (Flink's path): per split, the source offset up to which every result
 * is written, as the subtasks recorded it. 404 (CS_ERR_NOT_FOUND) for an unknown job.
 */
export function registerCheckpointRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.get<{ Params: { jobId: string } }>('/jobs/:jobId/checkpoints', async (request): Promise<JobCheckpoints> => control.checkpoints(request.params.jobId));
}
