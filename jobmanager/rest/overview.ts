import type { FastifyInstance } from 'fastify';
import type { ClusterOverview, ControlPlane } from '../control-plane';

/** `GET /overview`: running jobs, TaskManagers, total and free slots. */
export function registerOverviewRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.get('/overview', async (): Promise<ClusterOverview> => control.overview());
}
