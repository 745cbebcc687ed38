import type { FastifyInstance } from 'fastify';
import type { ClusterOverview, ControlPlane } from '../control-plane';

/**
 * Who may call the JobManager: `token` (a bearer token is required), `open` (no token, on loopback
 * only), `insecure` (no token beyond loopback: started with --insecure).
 */
export type AccessMode = 'token' | 'open' | 'insecure';

/** `GET /overview`: running jobs, TaskManagers, total and free slots, and the {@link AccessMode}. */
export function registerOverviewRoutes(app: FastifyInstance, control: ControlPlane, access: AccessMode = 'open'): void {
  app.get('/overview', async (): Promise<ClusterOverview & { access: AccessMode }> => ({ ...(await control.overview()), access }));
}
