import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { JobManagerClient } from '../src/cluster-api/jobmanager-client';
import type { RegisterTaskManagerResponse, SubtaskAssignment } from '../src/cluster-api/dto';
import { ClusterServingError } from '../src/errors';
import { createLogger, type Logger } from '../src/logging/logger';
import { Heartbeat } from './heartbeat';
import { prepareTopologyLoader } from '../src/topology/load-module';
import { ModelCache } from './model-cache';
import type { BackoffOptions } from '../src/retry/backoff';
import { registerWithJobManager } from './registration';
import { SlotTable, type SubtaskHandle } from './slot-table';
import type { SubtaskRunnerOptions } from './subtask-runner';
import { MetricsServer } from './metrics-server';
import { taskManagerReadiness } from './readiness';
import { TaskManagerMetrics } from './taskmanager-metrics';

/** What a TaskManager needs (see src/config/process-options.ts for units and defaults). */
export interface TaskManagerOptions {
  readonly jobmanagerUrl: string;
  /** The cluster's Redis, for topologies whose source or sink names no address. */
  readonly redisUrl: string;
  readonly slots: number;
  /** @default `tm-<hostname>-<random>` */
  readonly taskManagerId?: string | undefined;
  /** Shipped topologies and models (`models/<sha256>.onnx`) are cached here. */
  readonly cacheDir: string;
  /** Bearer token of the JobManager (registration, heartbeats, topology and model downloads); none: no header. */
  readonly token?: string | undefined;
  /** PEM CA certificate(s) trusted for an https JobManager URL instead of the system's. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Load TypeScript topologies (code from whoever submits jobs): off unless asked for (`--allow-code-topologies`). @default false */
  readonly allowCodeTopologies?: boolean;
  /**
   * Folders this TaskManager may load a job's `model.path` from directly (`--model-dir`); any other model
   * is downloaded from the JobManager by content hash. @default none
   */
  readonly modelDirs?: readonly string[];
  /** Reported to the JobManager. @default os.hostname() */
  readonly host?: string;
  /** Port of the metrics server (`/metrics`, `/healthz`, `/readyz`); 0: a free one. @default 0 */
  readonly metricsPort?: number | undefined;
  /** Address the metrics server listens on. @default '127.0.0.1' */
  readonly metricsHost?: string | undefined;
  /** @default createLogger('taskmanager') */
  readonly logger?: Logger;
  /** @default DEFAULT_REGISTRATION_BACKOFF */
  readonly registrationBackoff?: BackoffOptions;
  /** Replaces `new SubtaskRunner(...)`, for tests of the slot logic. */
  readonly createRunner?: (options: SubtaskRunnerOptions) => SubtaskHandle;
}

/** Timeout of the deregistration request on close: a gone JobManager must not hold up shutdown. */
const DEREGISTER_TIMEOUT_MS = 3000;

/** `tm-<hostname>-<6 hex>`, with the host name cut to what an id may hold. */
export function generateTaskManagerId(host: string = hostname()): string {
  const safeHost = host.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 60) || 'host';
  return `tm-${safeHost}-${randomBytes(3).toString('hex')}`;
}

/**
 * A worker process (SPEC §3): registers with the JobManager (retrying until it answers), then
 * heartbeats; each answer is the desired set of subtasks, which the slot table starts and stops. If the
 * JobManager goes away, the running subtasks carry on and the TaskManager keeps trying.
 *
 * `start()` resolves once registered; `close()` closes the subtasks (finishing in-flight work unless
 * `force`, still heartbeating meanwhile), stops the heartbeats and deregisters, so the JobManager moves the splits to the others at
 * once. Both are idempotent.
 *
 * @example
 * const tm = new TaskManager({ jobmanagerUrl: 'http://127.0.0.1:8081', redisUrl, slots: 2, cacheDir });
 * await tm.start();
 * // …
 * await tm.close();
 */
export class TaskManager {
  readonly id: string;
  private readonly logger: Logger;
  private readonly client: JobManagerClient;
  private readonly slots: SlotTable;
  private readonly abort = new AbortController();
  private heartbeat: Heartbeat | undefined;
  /** The Prometheus figures of this TaskManager's subtasks. */
  readonly metrics: TaskManagerMetrics;
  private readonly metricsServer: MetricsServer;
  private metricsAddress: string | undefined;
  /** Whether the JobManager knows this TaskManager (registered, and no heartbeat answered otherwise since). */
  private registered = false;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /**
   * The cluster of the JobManager this TaskManager registered with (undefined before). A TaskManager
   * takes its cluster from its JobManager, never from a flag, so it cannot record state under another
   * cluster's keys; and a JobManager assigns only TaskManagers registered in its own cluster.
   */
  cluster: string | undefined;

  constructor(readonly options: TaskManagerOptions) {
    this.id = options.taskManagerId ?? generateTaskManagerId();
    this.logger = (options.logger ?? createLogger('taskmanager')).child({ taskManagerId: this.id });
    this.client = new JobManagerClient(options.jobmanagerUrl, { token: options.token, ca: options.ca });
    this.metrics = new TaskManagerMetrics(this.id, options.slots);
    this.metricsServer = new MetricsServer({
      host: options.metricsHost ?? '127.0.0.1',
      port: options.metricsPort ?? 0,
      metrics: async () => ({ text: await this.metrics.metrics(), contentType: this.metrics.contentType }),
      readiness: () => this.readiness(),
      logger: this.logger.child({ component: 'taskmanager.metrics' }),
    });
    const models = new ModelCache({ cacheDir: options.cacheDir, modelDirs: options.modelDirs ?? [], download: (sha256) => this.client.modelByHash(sha256), logger: this.logger });
    this.slots = new SlotTable({
      taskManagerId: this.id,
      slots: options.slots,
      redisUrl: options.redisUrl,
      cacheDir: options.cacheDir,
      allowCodeTopologies: options.allowCodeTopologies === true,
      fetchTopology: (jobId) => this.client.jobTopology(jobId),
      resolveModel: (assignment, path) => models.resolve(assignment.jobId, path, assignment.modelSha256),
      logger: this.logger,
      meters: this.metrics,
      ...(options.createRunner ? { createRunner: options.createRunner } : {}),
    });
  }

  /** Where this TaskManager serves `/metrics` (e.g. `http://127.0.0.1:41234/metrics`); available once started. */
  get metricsUrl(): string | undefined {
    return this.metricsAddress;
  }

  /** `/readyz`: registered, and every subtask assigned here ready. */
  readiness(): ReturnType<typeof taskManagerReadiness> {
    return taskManagerReadiness(this.registered && !this.closing, this.slots.running());
  }

  /** Registers and starts heartbeating; resolves once registered. */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'the TaskManager is closed'));
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async register(): Promise<RegisterTaskManagerResponse> {
    const response = await registerWithJobManager(
      this.client,
      { id: this.id, host: this.options.host ?? hostname(), slots: this.options.slots, ...(this.metricsAddress !== undefined ? { metricsUrl: this.metricsAddress } : {}) },
      {
        signal: this.abort.signal,
        logger: this.logger.child({ component: 'taskmanager.registration' }),
        ...(this.options.registrationBackoff ? { backoff: this.options.registrationBackoff } : {}),
      },
    );
    if (this.cluster !== undefined && this.cluster !== response.cluster) this.logger.warn({ component: 'taskmanager', from: this.cluster, to: response.cluster }, 'taskmanager.cluster.changed');
    this.cluster = response.cluster;
    this.registered = true;
    return response;
  }

  private async doStart(): Promise<void> {
    if (this.options.allowCodeTopologies === true) {
      // Load the TypeScript compiler now, not on the event loop of a running TaskManager whose heartbeats count.
      await prepareTopologyLoader();
      this.logger.warn({ component: 'taskmanager', note: 'whoever can submit jobs can run TypeScript code in this process' }, 'taskmanager.code_topologies.allowed');
    }
    // Serving before registering: /healthz answers (and /readyz says why not) while the JobManager is awaited.
    const port = await this.metricsServer.start();
    const host = this.options.metricsHost ?? '127.0.0.1';
    const shown = host === '0.0.0.0' || host === '::' ? (this.options.host ?? hostname()) : host;
    this.metricsAddress = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/metrics`;
    const { heartbeatIntervalMs } = await this.register();
    if (this.closing) return;
    this.heartbeat = new Heartbeat({
      client: this.client,
      taskManagerId: this.id,
      intervalMs: heartbeatIntervalMs,
      running: () => this.slots.running(),
      onAssignments: (assignments) => this.slots.apply(this.ownCluster(assignments)),
      onUnknown: async () => {
        this.registered = false;
        await this.register();
      },
      logger: this.logger.child({ component: 'taskmanager.heartbeat' }),
    });
    this.heartbeat.start();
    this.logger.info({ component: 'taskmanager', jobmanager: this.client.baseUrl, slots: this.options.slots, metrics: this.metricsAddress }, 'taskmanager.started');
  }

  /** The assignments of the cluster this TaskManager registered with (any other is dropped, loudly). */
  private ownCluster(assignments: readonly SubtaskAssignment[]): SubtaskAssignment[] {
    const own = assignments.filter((a) => a.cluster === this.cluster);
    if (own.length < assignments.length) {
      const foreign = assignments.filter((a) => a.cluster !== this.cluster);
      this.logger.error({ component: 'taskmanager', cluster: this.cluster, foreign: foreign.map((a) => `${a.cluster}/${a.jobId}/${a.subtaskIndex}`) }, 'taskmanager.assignment.foreign_cluster');
    }
    return own;
  }

  /** Sends a heartbeat now and applies its answer (the next one follows an interval later). */
  async heartbeatNow(): Promise<void> {
    await this.heartbeat?.beatNow();
  }

  /** Subtasks running or starting here. */
  get runningSubtasks(): number {
    return this.slots.size;
  }

  close(options: { force?: boolean } = {}): Promise<void> {
    this.closing ??= this.doClose(options.force === true);
    return this.closing;
  }

  private async doClose(force: boolean): Promise<void> {
    const log = this.logger.child({ component: 'taskmanager' });
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    // Heartbeats go on while the subtasks finish their in-flight work: a drain longer than the heartbeat
    // timeout must not have the JobManager move (and fence) them halfway.
    await this.slots.close({ force }).catch((err: unknown) => log.warn({ err }, 'taskmanager.close.slots.failed'));
    await this.heartbeat?.stop().catch((err: unknown) => log.warn({ err }, 'taskmanager.close.heartbeat.failed'));
    if (this.heartbeat) {
      try {
        await this.client.withTimeout(DEREGISTER_TIMEOUT_MS).deregisterTaskManager(this.id);
      } catch (err) {
        log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'taskmanager.deregistration.failed');
      }
    }
    await this.metricsServer.close().catch((err: unknown) => log.warn({ err }, 'taskmanager.close.metrics.failed'));
    log.info('taskmanager.closed');
  }
}
