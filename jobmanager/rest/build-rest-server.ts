import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../../src/logging/logger';
import type { ControlPlane } from '../control-plane';
import type { AccessToken } from '../access-token';
import type { InferenceGateway } from '../inference-gateway';
import type { TlsIdentity } from '../read-tls-identity';
import { registerCheckpointRoutes } from './checkpoints';
import { installErrorHandler } from './error-handler';
import { registerJobRoutes } from './jobs';
import { registerJobMetricsRoutes } from './job-metrics';
import type { JobMetricsSeries } from '../metrics/job-metrics-series';
import type { JobManagerMetrics } from '../metrics/jobmanager-metrics';
import type { HealthReport } from '../../src/cluster-api/dto';
import { registerObservabilityRoutes } from './observability';
import { registerKServeV2Routes } from './kserve-v2';
import { registerModelRoutes } from './models';
import { kserveInferHandler } from './kserve-v2-infer-handler';
import { registerOverviewRoutes, type AccessMode } from './overview';
import { registerTaskManagerRoutes } from './taskmanagers';
import { requireToken } from './require-token';

/** Who may call the API and how it is reached. */
export interface RestAccess {
  /** Required on every route but the health probes; none: open. */
  readonly token?: AccessToken | undefined;
  /** Serve https with this certificate and key; none: plain http. */
  readonly tls?: TlsIdentity | undefined;
  /** Shown by `GET /overview` (`access`). @default token ? 'token' : 'open' */
  readonly mode?: AccessMode;
}

/** What the API serves about the cluster's live figures. */
export interface RestObservability {
  /** The jobs' live figures (`GET /jobs/:jobId/metrics`), fed by the heartbeats. */
  readonly series?: JobMetricsSeries;
  /** `/metrics` and `/prometheus/targets`, and the count of every HTTP request. */
  readonly prometheus?: JobManagerMetrics;
  /** `/readyz` (with `prometheus`). */
  readonly readiness?: () => HealthReport;
}

/** The route label of a KServe inference served ahead of fastify. */
const KSERVE_INFER_ROUTE = '/v2/models/:model_name/infer';

/** Largest accepted request body: a topology file with its source text. */
export const REST_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** How long an idle keep-alive connection stays open: fastify's default, which a custom server must set itself. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * The JobManager's REST API (see src/cluster-api/dto.ts), not yet listening. With a gateway, it also
 * serves the KServe v2 API under /v2 (jobmanager/rest/kserve-v2.ts); the caller closes the gateway.
 * `access` adds the bearer token every route but the health probes requires, and TLS (https).
 */
export function buildRestServer(control: ControlPlane, logger: Logger, gateway?: InferenceGateway, access: RestAccess = {}, observability: RestObservability = {}): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = logger;
  const kserveLogger = logger.child({ component: 'jobmanager.kserve' });
  const infer = gateway ? kserveInferHandler(gateway, kserveLogger, { token: access.token }) : undefined;
  const { prometheus } = observability;
  const app: FastifyInstance = fastify({
    loggerInstance,
    // KServe inference requests are served ahead of fastify (kserve-v2-infer-handler.ts); the rest by fastify.
    serverFactory: (handler) => {
      const listener = (req: IncomingMessage, res: ServerResponse): void => {
        if (!infer?.(req, res)) handler(req, res);
        else if (prometheus) res.once('finish', () => prometheus.httpRequest(req.method ?? 'POST', KSERVE_INFER_ROUTE, res.statusCode));
      };
      const server = access.tls ? createHttpsServer({ cert: access.tls.cert, key: access.tls.key }, listener) : createServer(listener);
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: REST_BODY_LIMIT_BYTES,
    return503OnClosing: true,
  });
  installErrorHandler(app, logger);
  if (access.token) requireToken(app, access.token);
  registerJobRoutes(app, control);
  registerModelRoutes(app, control);
  registerCheckpointRoutes(app, control);
  registerTaskManagerRoutes(app, control, {
    ...(observability.series ? { series: observability.series } : {}),
    ...(prometheus ? { onHeartbeat: (tmId: string, known: boolean) => prometheus.heartbeat(tmId, known) } : {}),
  });
  if (observability.series) registerJobMetricsRoutes(app, control, observability.series);
  if (prometheus) registerObservabilityRoutes(app, control, prometheus, observability.readiness ?? (() => ({ ok: true, reasons: [] })));
  registerOverviewRoutes(app, control, access.mode ?? (access.token ? 'token' : 'open'));
  if (gateway) registerKServeV2Routes(app, gateway, kserveLogger);
  return app;
}
