import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../src/logging/logger';
import type { ControlPlane } from '../control-plane';
import { registerCheckpointRoutes } from './checkpoints';
import { installErrorHandler } from './error-handler';
import { registerJobRoutes } from './jobs';
import { registerKServeV2Routes } from './kserve-v2';
import { registerOverviewRoutes } from './overview';
import { registerTaskManagerRoutes } from './taskmanagers';

/** Largest accepted request body: a topology file with its source text. */
export const REST_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * The JobManager's REST API (see src/cluster-api/dto.ts), not yet listening. With `inference`, it also
 * serves the KServe v2 API under /v2 (jobmanager/rest/kserve-v2.ts): the cluster's Redis and a folder to
 * load job topologies in.
 */
export function buildRestServer(control: ControlPlane, logger: Logger, inference?: { readonly redisUrl: string; readonly cacheDir: string }): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = logger;
  const app: FastifyInstance = fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: REST_BODY_LIMIT_BYTES,
    return503OnClosing: true,
  });
  installErrorHandler(app, logger);
  registerJobRoutes(app, control);
  registerCheckpointRoutes(app, control);
  registerTaskManagerRoutes(app, control);
  registerOverviewRoutes(app, control);
  if (inference) registerKServeV2Routes(app, control, { ...inference, logger: logger.child({ component: 'jobmanager.kserve' }) });
  return app;
}
