import type { FastifyInstance } from 'fastify';
import type { JobMetrics } from '../../src/cluster-api/dto';
import { ClusterServingError } from '../../src/errors';
import type { ControlPlane } from '../control-plane';
import type { JobMetricsSeries } from '../metrics/job-metrics-series';

/** Checks the `since` query parameter: ms since epoch, a non-negative integer; undefined when absent. */
export function parseSince(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = typeof value === 'string' ? value.trim() : '';
  if (!/^[0-9]{1,16}$/.test(text)) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `since must be a time in ms since the epoch (?since=MS), got "${String(value)}"`);
  return Number(text);
}

/**
 * `GET /jobs/:jobId/metrics?since=MS`: the job's live figures (JobMetrics), sampled every second from
 * its subtasks' heartbeats and kept ten minutes. A known job with no figures yet answers no points and
 * zero totals; an unknown job 404 (CS_ERR_NOT_FOUND).
 */
export function registerJobMetricsRoutes(app: FastifyInstance, control: ControlPlane, series: JobMetricsSeries): void {
  app.get<{ Params: { jobId: string }; Querystring: { since?: string } }>('/jobs/:jobId/metrics', async (request): Promise<JobMetrics> => {
    const { jobId } = request.params;
    const since = parseSince(request.query.since);
    const held = series.metrics(jobId, since);
    if (held) return held;
    const { jobs } = await control.listJobs();
    if (!jobs.some((j) => j.id === jobId)) throw new ClusterServingError('CS_ERR_NOT_FOUND', `job ${jobId} not found`, { context: { jobId } });
    return { jobId, intervalMs: series.intervalMs, points: [], totals: { requests: 0, errors: 0, errorsByCode: {} } };
  });
}
