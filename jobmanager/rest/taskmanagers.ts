import type { FastifyInstance } from 'fastify';
import type { HeartbeatResponse, RegisterTaskManagerResponse, TaskManagerList } from '../../src/cluster-api/dto';
import type { ControlPlane } from '../control-plane';
import { parseHeartbeatRequest, parseRegisterTaskManagerRequest } from './request-bodies';

interface TaskManagerParams {
  tmId: string;
}

/**
 * The TaskManagers resource: `POST /taskmanagers` (register), `POST /taskmanagers/:tmId/heartbeat`
 * (answers the desired assignments), `DELETE /taskmanagers/:tmId` (graceful deregistration, 204),
 * `GET /taskmanagers`.
 */
export function registerTaskManagerRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.post('/taskmanagers', async (request): Promise<RegisterTaskManagerResponse> => control.register(parseRegisterTaskManagerRequest(request.body)));

  app.post<{ Params: TaskManagerParams }>(
    '/taskmanagers/:tmId/heartbeat',
    async (request): Promise<HeartbeatResponse> => control.heartbeat(request.params.tmId, parseHeartbeatRequest(request.body)),
  );

  app.delete<{ Params: TaskManagerParams }>('/taskmanagers/:tmId', async (request, reply) => {
    await control.deregister(request.params.tmId);
    return reply.status(204).send();
  });

  app.get('/taskmanagers', async (): Promise<TaskManagerList> => control.listTaskManagers());
}
