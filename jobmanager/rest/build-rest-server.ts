import { createServer } from 'node:http';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../src/logging/logger';
import type { ControlPlane } from '../control-plane';
import type { InferenceGateway } from '../inference-gateway';
import { registerCheckpointRoutes } from './checkpoints';
import { installErrorHandler } from './error-handler';
import { registerJobRoutes } from './jobs';
import { registerKServeV2Routes } from './kserve-v2';
import { registerModelRoutes } from './models';
import { kserveInferHandler } from './kserve-v2-infer-handler';
import { registerOverviewRoutes } from './overview';
import { registerTaskManagerRoutes } from './taskmanagers';

/** Largest accepted request body: a topology file with its source text. */
export const REST_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** How long an idle keep-alive connection stays open: fastify's default, which a custom server must set itself. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * The JobManager's REST API (see src/cluster-api/dto.ts), not yet listening. With a gateway, it also
 * serves the KServe v2 API under /v2 (jobmanager/rest/kserve-v2.ts); the caller closes the gateway.
 */
export function buildRestServer(control: ControlPlane, logger: Logger, gateway?: InferenceGateway): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = logger;
  const kserveLogger = logger.child({ component: 'jobmanager.kserve' });
  const infer = gateway ? kserveInferHandler(gateway, kserveLogger) : undefined;
  const app: FastifyInstance = fastify({
    loggerInstance,
    // KServe inference requests are served ahead of fastify (kserve-v2-infer-handler.ts); the rest by fastify.
    serverFactory: (handler) => {
      const server = createServer((req, res) => {
        if (!infer?.(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: REST_BODY_LIMIT_BYTES,
    return503OnClosing: true,
  });
  installErrorHandler(app, logger);
  registerJobRoutes(app, control);
  registerModelRoutes(app, control);
  registerCheckpointRoutes(app, control);
  registerTaskManagerRoutes(app, control);
  registerOverviewRoutes(app, control);
  if (gateway) registerKServeV2Routes(app, gateway, kserveLogger);
  return app;
}
