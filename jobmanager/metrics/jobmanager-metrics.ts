import { Counter, Gauge, Registry } from 'prom-client';
import type { JobState } from '../../src/cluster-api/dto';
import { metricsText } from '../../src/metrics/process-registry';
import type { ClusterOverview } from '../control-plane';
import type { JobMetricsSeries } from './job-metrics-series';

/** What the JobManager's figures are read from when scraped. */
export interface JobManagerMetricsSources {
  readonly jobStates: () => Promise<readonly JobState[]>;
  readonly overview: () => Promise<ClusterOverview>;
  readonly series: JobMetricsSeries;
}

const JOB_STATES: readonly JobState[] = ['CREATED', 'RUNNING', 'DEGRADED', 'CANCELED', 'FAILED'];

/**
 * The JobManager's Prometheus figures, in a registry of its own (never prom-client's global one: a
 * JobManager and TaskManagers can share one process). Jobs by state, TaskManagers and slots are read from
 * the control plane when scraped; heartbeats and HTTP requests are counted as they come; each live job's
 * throughput, latency, lag and totals come from the live figures (JobMetricsSeries), so Prometheus sees a
 * cluster-wide view without scraping every TaskManager.
 */
export class JobManagerMetrics {
  readonly registry = new Registry();
  private readonly heartbeats: Counter<'taskmanager' | 'known'>;
  private readonly requests: Counter<'method' | 'route' | 'status'>;

  constructor(sources: JobManagerMetricsSources) {
    const registers = [this.registry];
    const { series } = sources;
    this.heartbeats = new Counter({ name: 'cs_heartbeats_total', help: 'TaskManager heartbeats received (known=false: from a TaskManager the JobManager does not know, which registers again)', labelNames: ['taskmanager', 'known'], registers });
    this.requests = new Counter({ name: 'cs_http_requests_total', help: 'Requests to the REST and KServe HTTP APIs, by route and status', labelNames: ['method', 'route', 'status'], registers });
    new Gauge({
      name: 'cs_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = new Map<JobState, number>(JOB_STATES.map((s) => [s, 0]));
        for (const state of await sources.jobStates()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    // The three cluster gauges read one overview per scrape.
    let overview: { at: number; value: Promise<ClusterOverview> } | undefined;
    const readOverview = (): Promise<ClusterOverview> => {
      const now = Date.now();
      if (!overview || now - overview.at > 500) overview = { at: now, value: sources.overview() };
      return overview.value;
    };
    new Gauge({ name: 'cs_taskmanagers', help: 'Registered TaskManagers', registers, async collect() { this.set((await readOverview()).taskmanagers); } });
    new Gauge({ name: 'cs_slots_total', help: 'Slots of all registered TaskManagers', registers, async collect() { this.set((await readOverview()).slotsTotal); } });
    new Gauge({ name: 'cs_slots_free', help: 'Slots with no subtask assigned', registers, async collect() { this.set((await readOverview()).slotsAvailable); } });

    const live = () => [...series.summaries()].filter((j) => j.active);
    new Counter({
      name: 'cs_job_results_total',
      help: 'Results written by the job (error results included), from its subtasks\' heartbeats',
      labelNames: ['job', 'job_id'],
      registers,
      collect() {
        this.reset();
        for (const j of live()) this.inc({ job: j.jobName, job_id: j.jobId }, j.totals.requests);
      },
    });
    new Counter({
      name: 'cs_job_error_results_total',
      help: 'Error results written by the job, by error code',
      labelNames: ['job', 'job_id', 'code'],
      registers,
      collect() {
        this.reset();
        for (const j of live()) for (const [code, n] of Object.entries(j.totals.errorsByCode)) this.inc({ job: j.jobName, job_id: j.jobId, code }, n);
      },
    });
    const lastPoint = (name: string, help: string, value: (p: NonNullable<ReturnType<typeof live>[number]['last']>) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['job', 'job_id'],
        registers,
        collect() {
          this.reset();
          for (const j of live()) {
            const v = j.last ? value(j.last) : null;
            if (v !== null) this.set({ job: j.jobName, job_id: j.jobId }, v);
          }
        },
      });
    lastPoint('cs_job_requests_per_second', 'Results written per second over the last sample (about a second)', (p) => p.requestsPerSec);
    lastPoint('cs_job_lag', 'Entries of the job\'s splits not yet delivered to any reader', (p) => p.lag);
    lastPoint('cs_job_pending', 'Entries of the job\'s splits delivered and not yet acknowledged', (p) => p.pending);
    new Gauge({
      name: 'cs_job_latency_seconds',
      help: 'End-to-end latency percentiles over the last sample, estimated from the TaskManagers\' histograms',
      labelNames: ['job', 'job_id', 'quantile'],
      registers,
      collect() {
        this.reset();
        for (const j of live()) {
          const p = j.last;
          if (!p) continue;
          for (const [quantile, ms] of [['0.5', p.latencyP50Ms], ['0.9', p.latencyP90Ms], ['0.99', p.latencyP99Ms]] as const) {
            if (ms !== null) this.set({ job: j.jobName, job_id: j.jobId, quantile }, ms / 1000);
          }
        }
      },
    });
  }

  /** A heartbeat arrived from `taskManagerId`. */
  heartbeat(taskManagerId: string, known: boolean): void {
    this.heartbeats.inc({ taskmanager: taskManagerId, known: known ? 'true' : 'false' });
  }

  /** An HTTP request was answered (`route`: the route's pattern, never the raw path). */
  httpRequest(method: string, route: string, status: number): void {
    this.requests.inc({ method, route, status: String(status) });
  }

  /** The Prometheus text of every figure, the process's (CPU, memory, event loop) included. */
  metrics(): Promise<string> {
    return metricsText(this.registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
