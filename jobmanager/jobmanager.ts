import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { createRedis, redisFatalError } from '../src/redis/create-redis';
import { redactRedisUrl } from '../src/redis/redis-security';
import { ClusterServingError, ConnectorError } from '../src/errors';
import { createLogger, type Logger } from '../src/logging/logger';
import { loadTopologySource } from '../src/topology/load-topology';
import { ControlPlane } from './control-plane';
import { KServeGrpcServer } from './grpc/grpc-server';
import { InferenceGateway } from './inference-gateway';
import { buildRestServer } from './rest/build-rest-server';
import { JobStore } from './state/job-store';
import { ModelStore } from './state/model-store';
import { TaskManagerRegistry } from './state/taskmanager-registry';
import { SplitProgressReader } from './state/split-progress';

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
  /** @default createLogger('jobmanager') */
  readonly logger?: Logger;
}

/** How long the JobManager waits for Redis at start before giving up. */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

/**
 * The control plane (SPEC §3): the REST API of src/cluster-api/dto.ts, the job store and TaskManager
 * registry in Redis, and a timer that re-runs the subtask assignment every heartbeat interval (so a
 * TaskManager past its heartbeat timeout loses its subtasks to the others). All state is in Redis: a
 * restarted JobManager carries on, and the TaskManagers keep running meanwhile.
 *
 * `start()` and `close()` are idempotent (each returns the same promise when called again).
 *
 * @example
 * const jm = new JobManager({ redisUrl, host: '127.0.0.1', port: 0, heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 10000, cacheDir });
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
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private address: string | undefined;

  constructor(readonly options: JobManagerOptions) {
    this.logger = options.logger ?? createLogger('jobmanager');
  }

  /** The REST API's base URL, e.g. `http://127.0.0.1:8081`; available once started. */
  get url(): string {
    if (this.address === undefined) throw new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is not started');
    return this.address;
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

  private async doStart(): Promise<void> {
    const { options } = this;
    await mkdir(options.cacheDir, { recursive: true });
    this.redis = await connectRedis(options.redisUrl, this.logger);
    const validationDir = join(options.cacheDir, 'jobmanager');
    this.control = new ControlPlane({
      jobs: new JobStore(this.redis),
      taskManagers: new TaskManagerRegistry(this.redis),
      validate: async (source) => (await loadTopologySource(source, validationDir, { typecheck: true })).topology,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      progress: new SplitProgressReader(this.redis),
      models: new ModelStore(options.cacheDir),
      logger: this.logger,
    });
    this.gateway = new InferenceGateway(this.control, { redisUrl: options.redisUrl, cacheDir: validationDir, logger: this.logger.child({ component: 'jobmanager.kserve' }) });
    this.app = buildRestServer(this.control, this.logger.child({ component: 'jobmanager.rest' }), this.gateway);
    try {
      await this.app.listen({ host: options.host, port: options.port });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason = code === 'EADDRINUSE' ? 'the port is in use (choose another with --port / CS_JOBMANAGER_PORT)' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine (--host / CS_JOBMANAGER_HOST)' : (err as Error).message;
      throw new ClusterServingError('CS_ERR_CONFIG', `cannot listen on ${options.host}:${options.port}: ${reason}`, { cause: err });
    }
    const addr = this.app.server.address() as AddressInfo;
    const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
    this.address = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${addr.port}`;
    if (options.grpcPort !== undefined) this.grpc = await KServeGrpcServer.start(this.gateway, { host: options.host, port: options.grpcPort, logger: this.logger.child({ component: 'jobmanager.kserve' }) });
    await this.control.reassign();
    this.scheduleTick();
    this.logger.info({ component: 'jobmanager', url: this.address, grpc: this.grpc?.address, redis: redactRedisUrl(options.redisUrl) }, 'jobmanager.started');
  }

  private scheduleTick(): void {
    this.timer = setTimeout(() => {
      this.control
        ?.reassign()
        .catch((err: unknown) => this.logger.warn({ component: 'jobmanager.scheduler', err }, 'jobmanager.scheduler.failed'))
        .finally(() => {
          if (!this.closing) this.scheduleTick();
        });
    }, this.options.heartbeatIntervalMs);
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
    const failures: unknown[] = [];
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
