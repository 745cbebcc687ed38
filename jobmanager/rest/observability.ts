import type { FastifyInstance } from 'fastify';
import type { HealthReport, PrometheusTargetGroup } from '../../src/cluster-api/dto';
import type { ControlPlane } from '../control-plane';
import type { JobManagerMetrics } from '../metrics/jobmanager-metrics';

/** The Prometheus HTTP service-discovery groups of the TaskManagers that registered a metrics URL. */
export function prometheusTargets(taskmanagers: readonly { id: string; metricsUrl?: string }[]): PrometheusTargetGroup[] {
  const groups: PrometheusTargetGroup[] = [];
  for (const tm of taskmanagers) {
    if (tm.metricsUrl === undefined) continue;
    let url: URL;
    try {
      url = new URL(tm.metricsUrl);
    } catch {
      continue;
    }
    groups.push({ targets: [url.host], labels: { __metrics_path__: url.pathname, __scheme__: url.protocol.replace(/:$/, ''), taskmanager: tm.id } });
  }
  return groups;
}

/**
 * What the JobManager serves for operators: `GET /metrics` (Prometheus text; behind the token when one is
 * configured), `GET /prometheus/targets` (Prometheus `http_sd_configs`: every TaskManager's metrics
 * endpoint; behind the token too), `GET /healthz` (the process answers) and `GET /readyz` (200 when it
 * can serve, else 503 with the reasons); the last two are open, like /v2/health/*. Every answered
 * request is counted by route and status.
 */
export function registerObservabilityRoutes(app: FastifyInstance, control: ControlPlane, metrics: JobManagerMetrics, readiness: () => HealthReport): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
  });
  app.get('/metrics', async (_request, reply) => reply.header('content-type', metrics.contentType).send(await metrics.metrics()));
  app.get('/prometheus/targets', async (): Promise<PrometheusTargetGroup[]> => prometheusTargets((await control.listTaskManagers()).taskmanagers));
  app.get('/healthz', async (): Promise<HealthReport> => ({ ok: true, reasons: [] }));
  app.get('/readyz', async (_request, reply) => {
    const report = readiness();
    return reply.status(report.ok ? 200 : 503).send(report);
  });
}
