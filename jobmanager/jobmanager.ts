import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { createRedis, redisFatalError } from '../src/redis/create-redis';
import { redactRedisUrl } from '../src/redis/redis-security';
import { PROCESS_OPTIONS } from '../src/config/process-options';
import { ClusterServingError, ConfigError, ConnectorError } from '../src/errors';
import { DEFAULT_CLUSTER } from '../src/cluster-api/keys';
import { createLogger, type Logger } from '../src/logging/logger';
import { AccessToken } from './access-token';
import { ModelDirectories } from '../src/cluster-api/model-directories';
import { ControlPlane } from './control-plane';
import { KServeGrpcServer } from './grpc/grpc-server';
import { InferenceGateway } from './inference-gateway';
import { isLoopbackHost } from './is-loopback-host';
import { readTlsIdentity, type TlsIdentity } from './read-tls-identity';
import { buildRestServer } from './rest/build-rest-server';
import type { AccessMode } from './rest/overview';
import { JobStore } from './state/job-store';
import { DEFAULT_JOB_RETENTION_MS, JobRetention } from './job-retention';
import { ModelStore } from './state/model-store';
import { TaskManagerRegistry } from './state/taskmanager-registry';
import { SplitProgressReader } from './state/split-progress';
import { TopologyValidator } from './topology-validator';
import { StreamClaims } from './state/stream-claims';
import { JobHealthReader } from './state/job-health';
import { JobMetricsSeries } from './metrics/job-metrics-series';
import { recordTensorBoard, type TensorBoardOutput } from './record-tensorboard';
import { splitLoadReader } from './metrics/split-load';
import { JobManagerMetrics } from './metrics/jobmanager-metrics';
import type { HealthReport } from '../src/cluster-api/dto';
import { StreamReadinessPublisher } from './state/stream-readiness';

/** What a JobManager needs (see src/config/process-options.ts for units and defaults). */
export interface JobManagerOptions {
  readonly redisUrl: string;
  /** Listen address of the REST API. */
  readonly host: string;
  /** Port of the REST API; 0 picks a free one (see {@link JobManager.url}). */
  readonly port: number;
  /** Port of the KServe v2 gRPC API; 0 picks a free one (see {@link JobManager.grpcAddress}); none when undefined. */
  readonly grpcPort?: number | undefined;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Submitted topologies are written here to be validated, and submitted models kept (`models/<sha256>.onnx`). */
  readonly cacheDir: string;
  /**
   * Bearer token every API call but the health probes must carry (REST, KServe HTTP and gRPC); required
   * when `host` is not loopback unless `insecure`. The token itself, not a file (see src/config/read-jobmanager-access.ts).
   */
  readonly token?: string | undefined;
  /** Listen beyond loopback without a token (warned about at start and shown in `GET /overview`). @default false */
  readonly insecure?: boolean | undefined;
  /** PEM certificate file: the REST/KServe HTTP API serves https, the gRPC API TLS (with `tlsKey`). */
  readonly tlsCert?: string | undefined;
  /** PEM private key file of `tlsCert`. */
  readonly tlsKey?: string | undefined;
  /** Accept TypeScript topologies (code): off unless asked for (`--allow-code-topologies`). @default false */
  readonly allowCodeTopologies?: boolean;
  /** Folders a topology's model path may point into (`--model-dir`). @default none: models are uploaded with the job */
  readonly modelDirs?: readonly string[];
  /** Time limit of a TypeScript topology's type-check and load (in a child process), in ms. @default 120000 */
  readonly topologyCheckTimeoutMs?: number;
  /** Heap limit of that child process, in MB. @default 1024 */
  readonly topologyCheckMemoryMb?: number;
  /**
   * Where each job's samples are written as TensorBoard scalars, one run directory per job
   * (jobmanager/tensorboard-recorder.ts); none when undefined.
   */
  readonly tensorboardDir?: string | undefined;
  /** The cluster's name, prefixing its control-plane keys in Redis. @default 'default' */
  readonly cluster?: string;
  /** How long a finished (CANCELED or FAILED) job is kept before it is removed from Redis, in ms (`--job-retention`). @default 3600000 (1 h) */
  readonly jobRetentionMs?: number;
  /** @default createLogger('jobmanager') */
  readonly logger?: Logger;
}

/** Shortest TTL of the JobManager's liveness key (see StreamClaims): a stream claim lapses this long after its JobManager stopped. */
const MIN_ALIVE_TTL_MS = 30_000;

/** How long the JobManager waits for Redis at start before giving up. */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

/**
 * The control plane (SPEC §3): the REST API of src/cluster-api/dto.ts, the job store and TaskManager
 * registry in Redis, and a timer that re-runs the subtask assignment every half heartbeat interval (so a
 * TaskManager past its heartbeat timeout loses its subtasks to the others). All state is in Redis: a
 * restarted JobManager carries on, and the TaskManagers keep running meanwhile.
 *
 * `start()` and `close()` are idempotent (each returns the same promise when called again).
 *
 * @example
 * const jm = new JobManager({ redisUrl, host: '127.0.0.1', port: 0, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 3500, cacheDir });
 * await jm.start();
 * console.log(jm.url); // http://127.0.0.1:40123
 * await jm.close();
 */
export class JobManager {
  private readonly logger: Logger;
  private redis: Redis | undefined;
  private app: FastifyInstance | undefined;
  private control: ControlPlane | undefined;
  private gateway: InferenceGateway | undefined;
  private grpc: KServeGrpcServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retention: JobRetention | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private address: string | undefined;
  private accessMode: AccessMode | undefined;
  private claims: StreamClaims | undefined;
  private splitLoad: ((jobId: string) => Promise<{ lag: number; pending: number }>) | undefined;
  private tensorboard: TensorBoardOutput | undefined;
  private streamReadiness: StreamReadinessPublisher | undefined;
  /** The cluster's name (prefix of its control-plane keys). */
  readonly cluster: string;
  /**
   * The jobs' live figures, one sample per job and second while started (`GET /jobs/:jobId/metrics`);
   * `subscribe` hears every new sample.
   */
  readonly metricsSeries: JobMetricsSeries;
  /** The Prometheus figures served at `/metrics`. */
  readonly metrics: JobManagerMetrics;

  constructor(readonly options: JobManagerOptions) {
    this.logger = options.logger ?? createLogger('jobmanager');
    this.cluster = options.cluster ?? DEFAULT_CLUSTER;
    this.metricsSeries = new JobMetricsSeries({
      jobs: async () => (this.control ? (await this.control.listJobs()).jobs : []),
      splitLoad: (jobId) => (this.splitLoad ? this.splitLoad(jobId) : Promise.resolve({ lag: 0, pending: 0 })),
      logger: this.logger,
    });
    this.metrics = new JobManagerMetrics({
      jobStates: async () => (this.control ? (await this.control.listJobs()).jobs.map((j) => j.state) : []),
      overview: () => (this.control ? this.control.overview() : Promise.resolve({ cluster: this.cluster, jobs: 0, taskmanagers: 0, slotsTotal: 0, slotsAvailable: 0 })),
      series: this.metricsSeries,
    });
  }

  /** `/readyz`: started, not closing, and connected to Redis (where all state is). */
  readiness(): HealthReport {
    const reasons: string[] = [];
    if (this.accessMode === undefined) reasons.push('starting');
    if (this.closing) reasons.push('shutting down');
    if (this.redis && this.redis.status !== 'ready') reasons.push(`Redis not connected (${this.redis.status})`);
    return { ok: reasons.length === 0, reasons };
  }

  /** The REST API's base URL, e.g. `http://127.0.0.1:8081`; available once started. */
  get url(): string {
    if (this.address === undefined) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is not started');
    return this.address;
  }

  /** Who may call the APIs, once started: `token`, `open` (loopback, no token) or `insecure` (see {@link AccessMode}). */
  get access(): AccessMode {
    if (this.accessMode === undefined) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is not started');
    return this.accessMode;
  }

  /** host:port of the KServe v2 gRPC API, e.g. `127.0.0.1:8001`; undefined when it is off (no `grpcPort`). */
  get grpcAddress(): string | undefined {
    return this.grpc?.address;
  }

  /** Connects to Redis, starts the REST API (and the gRPC API when asked for) and the assignment timer. */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is closed'));
    this.starting ??= this.doStart().catch(async (err: unknown) => {
      await this.close({ force: true });
      throw err;
    });
    return this.starting;
  }

  /**
   * The access rule (SPEC: safe on a network): beyond loopback a token is required unless `insecure`;
   * checked before anything connects or listens. Answers the mode the APIs run in.
   */
  private accessModeOf(): AccessMode {
    const { options } = this;
    if (options.token !== undefined && options.token !== '') return 'token';
    if (isLoopbackHost(options.host)) return 'open';
    if (options.insecure === true) return 'insecure';
    throw new ConfigError([
      `the JobManager would listen on ${options.host}, beyond this machine, with no token: give one with ${PROCESS_OPTIONS.tokenFile.flag} FILE (${PROCESS_OPTIONS.tokenFile.env}) or ${PROCESS_OPTIONS.token.env}, or pass ${PROCESS_OPTIONS.insecure.flag} (${PROCESS_OPTIONS.insecure.env}=1) on a network you trust`,
    ]);
  }

  private async doStart(): Promise<void> {
    const { options } = this;
    const mode = this.accessModeOf();
    const token = mode === 'token' ? new AccessToken(options.token!) : undefined;
    let tls: TlsIdentity | undefined;
    if (options.tlsCert !== undefined || options.tlsKey !== undefined) {
      if (options.tlsCert === undefined || options.tlsKey === undefined) throw new ConfigError([`${PROCESS_OPTIONS.tlsCert.flag} and ${PROCESS_OPTIONS.tlsKey.flag} go together: give both (certificate and private key) or neither`]);
      tls = await readTlsIdentity(options.tlsCert, options.tlsKey);
    }
    await mkdir(options.cacheDir, { recursive: true });
    this.redis = await connectRedis(options.redisUrl, this.logger);
    const validationDir = join(options.cacheDir, 'jobmanager');
    const cluster = this.cluster;
    const claims = (this.claims = new StreamClaims(this.redis, cluster, Math.max(MIN_ALIVE_TTL_MS, 3 * options.heartbeatTimeoutMs)));
    await claims.heartbeat();
    const validator = new TopologyValidator({
      allowCodeTopologies: options.allowCodeTopologies === true,
      cacheDir: validationDir,
      ...(options.topologyCheckTimeoutMs !== undefined ? { timeoutMs: options.topologyCheckTimeoutMs } : {}),
      ...(options.topologyCheckMemoryMb !== undefined ? { maxMemoryMb: options.topologyCheckMemoryMb } : {}),
    });
    const modelDirs = new ModelDirectories(options.modelDirs ?? []);
    const jobs = new JobStore(this.redis, cluster);
    const progress = new SplitProgressReader(this.redis, cluster);
    this.splitLoad = splitLoadReader(jobs, progress);
    this.control = new ControlPlane({
      cluster,
      claims,
      health: new JobHealthReader(this.redis, cluster),
      jobs,
      taskManagers: new TaskManagerRegistry(this.redis, cluster),
      validate: (source, opts) => validator.validate(source, opts),
      modelDirs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      progress,
      models: new ModelStore(options.cacheDir),
      logger: this.logger,
      jobRetentionMs: options.jobRetentionMs ?? DEFAULT_JOB_RETENTION_MS,
    });
    this.retention = new JobRetention(this.control, options.jobRetentionMs ?? DEFAULT_JOB_RETENTION_MS, this.logger.child({ component: 'jobmanager.jobs' }));
    this.streamReadiness = new StreamReadinessPublisher(this.redis, cluster, this.logger.child({ component: 'jobmanager.readiness' }));
    this.gateway = new InferenceGateway(this.control, { redisUrl: options.redisUrl, cacheDir: validationDir, logger: this.logger.child({ component: 'jobmanager.kserve' }) });
    this.app = buildRestServer(this.control, this.logger.child({ component: 'jobmanager.rest' }), this.gateway, { token, tls, mode }, { series: this.metricsSeries, prometheus: this.metrics, readiness: () => this.readiness() });
    try {
      await this.app.listen({ host: options.host, port: options.port });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason = code === 'EADDRINUSE' ? 'the port is in use (choose another with --port / CS_JOBMANAGER_PORT)' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine (--host / CS_JOBMANAGER_HOST)' : (err as Error).message;
      throw new ClusterServingError('CS_ERR_CONFIG', `cannot listen on ${options.host}:${options.port}: ${reason}`, { cause: err });
    }
    const addr = this.app.server.address() as AddressInfo;
    const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
    this.address = `${tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${addr.port}`;
    if (options.grpcPort !== undefined) this.grpc = await KServeGrpcServer.start(this.gateway, { host: options.host, port: options.grpcPort, logger: this.logger.child({ component: 'jobmanager.kserve' }), token, tls });
    await this.control.reassign();
    await this.control.claimActiveStreams();
    this.scheduleTick();
    const control = this.control;
    if (options.tensorboardDir !== undefined) {
      this.tensorboard = recordTensorBoard({ dir: options.tensorboardDir, series: this.metricsSeries, specOf: (jobId) => control.jobSpec(jobId), logger: this.logger.child({ component: 'jobmanager.tensorboard' }) });
    }
    this.retention.start();
    this.metricsSeries.start();
    this.accessMode = mode;
    this.logger.info({ component: 'jobmanager', cluster, url: this.address, grpc: this.grpc?.address, redis: redactRedisUrl(options.redisUrl), access: mode, tls: tls !== undefined, modelDirs: modelDirs.dirs, allowCodeTopologies: options.allowCodeTopologies === true }, 'jobmanager.started');
    if (mode === 'insecure') {
      const warning = `listening on ${options.host} with NO TOKEN (--insecure): anyone who reaches this port can submit jobs, cancel them and register TaskManagers`;
      this.logger.warn({ component: 'jobmanager', host: options.host, access: mode, warning }, 'jobmanager.insecure');
    }
    if (options.allowCodeTopologies === true) {
      this.logger.warn({ component: 'jobmanager', note: 'whoever can submit jobs can run TypeScript code on the cluster (type-checked and loaded in a child process here, run on the TaskManagers)' }, 'jobmanager.code_topologies.allowed');
    }
  }

  /**
   * The failure check: every half heartbeat interval (250 ms at the defaults) the assignment is run again,
   * so a TaskManager past its heartbeat timeout loses its subtasks within half an interval. A check that
   * fires late by more than half an interval means this process was stalled (its event loop blocked, or
   * the machine overloaded): heartbeats that arrived meanwhile are still unread, so the stall counts as
   * no TaskManager's silence (ControlPlane.noteStall).
   */
  private scheduleTick(): void {
    const tickMs = Math.max(1, Math.floor(this.options.heartbeatIntervalMs / 2));
    const due = performance.now() + tickMs;
    this.timer = setTimeout(() => {
      const lateMs = performance.now() - due;
      if (lateMs > tickMs) {
        const now = Date.now();
        this.control?.noteStall(now - lateMs, now);
        if (lateMs > this.options.heartbeatIntervalMs) this.logger.warn({ component: 'jobmanager.scheduler', lateMs: Math.round(lateMs) }, 'jobmanager.scheduler.stalled');
      }
      this.claims?.heartbeat().catch((err: unknown) => this.logger.warn({ component: 'jobmanager.claims', err }, 'jobmanager.alive.failed'));
      const control = this.control;
      control
        ?.reassign()
        .catch((err: unknown) => this.logger.warn({ component: 'jobmanager.scheduler', err }, 'jobmanager.scheduler.failed'))
        // Each stream's readiness key (<stream>:ready) follows its job's state, for the clients' waitReady.
        .then(async () => this.streamReadiness?.publish(await control.jobReadiness()))
        .catch((err: unknown) => this.logger.warn({ component: 'jobmanager.readiness', err }, 'jobmanager.readiness.failed'))
        .finally(() => {
          if (!this.closing) this.scheduleTick();
        });
    }, tickMs);
  }

  /**
   * Stops the timer, the gRPC and REST APIs (in-flight requests finish), then disconnects from Redis. Jobs
   * keep running on the TaskManagers: they retry until a JobManager answers again. Every step runs
   * even if one fails. `force` skips waiting for in-flight state writes.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    this.closing ??= this.doClose(options.force === true);
    return this.closing;
  }

  private async doClose(force: boolean): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.retention?.close();
    const failures: unknown[] = [];
    await this.metricsSeries.close().catch((err: unknown) => failures.push(err));
    await this.tensorboard?.close();
    const step = async (fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
      }
    };
    if (this.grpc) await step(() => this.grpc!.close());
    if (this.app) await step(() => this.app!.close());
    if (this.gateway) await step(() => this.gateway!.close());
    if (this.control && !force) await step(() => this.control!.idle());
    if (this.redis) {
      const redis = this.redis;
      if (force) redis.disconnect();
      else await step(() => redis.quit());
    }
    if (this.address !== undefined) this.logger.info({ component: 'jobmanager' }, 'jobmanager.closed');
    if (failures.length > 0) this.logger.warn({ component: 'jobmanager', err: failures[0] }, 'jobmanager.close.incomplete');
  }
}

/** ioredis's reconnection delay once connected (ms): the survivable-Redis-restart path of SPEC §6. */
function reconnectDelayMs(times: number): number {
  return Math.min(times * 100, 2000);
}

/**
 * Connects, failing at once with one clear error when Redis is not there; once connected, ioredis
 * reconnects by itself after a Redis restart (errors are then logged, not thrown).
 */
async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  let connected = false;
  let lastError: Error | undefined;
  const redis = createRedis(url, {
    logger: logger.child({ component: 'jobmanager.redis' }),
    label: 'jobmanager',
    lazyConnect: true,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 3,
    // ioredis keeps a timer this long after disconnecting a socket that never connected
    disconnectTimeout: 200,
    retryStrategy: (times) => (connected ? reconnectDelayMs(times) : null),
  });
  // createRedis logs each outage once; this keeps the reason a failed start reports.
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
    connected = true;
    return redis;
  } catch (err) {
    redis.disconnect();
    const fatal = redisFatalError(redis);
    if (fatal) throw fatal;
    const reason = lastError?.message ?? (err instanceof Error ? err.message : String(err));
    throw new ConnectorError(`cannot reach Redis at ${redactRedisUrl(url)}: ${reason}`, { cause: lastError ?? err });
  }
}
