import type { FastifyInstance } from 'fastify';
import type { HeartbeatResponse, RegisterTaskManagerResponse, TaskManagerList } from '../../src/cluster-api/dto';
import type { ControlPlane } from '../control-plane';
import type { JobMetricsSeries } from '../metrics/job-metrics-series';
import { parseHeartbeatRequest, parseRegisterTaskManagerRequest } from './request-bodies';

interface TaskManagerParams {
  tmId: string;
}

/**
 * The TaskManagers resource: `POST /taskmanagers` (register), `POST /taskmanagers/:tmId/heartbeat`
 * (answers the desired assignments), `DELETE /taskmanagers/:tmId` (graceful deregistration, 204),
 * `GET /taskmanagers`. Each known heartbeat's subtask stats go to `series` (the jobs' live figures) and
 * count in `onHeartbeat`.
 */
export function registerTaskManagerRoutes(app: FastifyInstance, control: ControlPlane, observers: { series?: JobMetricsSeries; onHeartbeat?: (taskManagerId: string, known: boolean) => void } = {}): void {
  app.post('/taskmanagers', async (request): Promise<RegisterTaskManagerResponse> => control.register(parseRegisterTaskManagerRequest(request.body)));

  app.post<{ Params: TaskManagerParams }>(
    '/taskmanagers/:tmId/heartbeat',
    async (request): Promise<HeartbeatResponse> => {
      const body = parseHeartbeatRequest(request.body);
      const response = await control.heartbeat(request.params.tmId, body);
      if (response.known) observers.series?.ingest(request.params.tmId, body.running);
      observers.onHeartbeat?.(request.params.tmId, response.known);
      return response;
    },
  );

  app.delete<{ Params: TaskManagerParams }>('/taskmanagers/:tmId', async (request, reply) => {
    await control.deregister(request.params.tmId);
    observers.series?.forget(request.params.tmId);
    return reply.status(204).send();
  });

  app.get('/taskmanagers', async (): Promise<TaskManagerList> => control.listTaskManagers());
}
