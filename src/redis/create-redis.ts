import type { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { createLogger, type Logger } from '../logging/logger';
import { certificateFailure, isCertificateError } from './redis-failures';
import { processRedisCredentials, redactRedisUrl, type RedisCredentials } from './redis-security';

export interface CreateRedisOptions extends RedisOptions {
  /** TLS files and password. @default the process's ({@link processRedisCredentials}) */
  readonly credentials?: RedisCredentials;
  /** Where the connection's outages are logged. @default a `redis` logger on stderr */
  readonly logger?: Pick<Logger, 'warn' | 'info' | 'error'>;
  /** Names the connection in its log lines, e.g. `jobmanager` or `cs-source-tm-1`. */
  readonly label?: string;
}

let defaultLogger: Logger | undefined;
/** Numbers the connections of this process in log lines (several may share a label). */
let connectionCount = 0;

/** Sockets that have a listener for errors after their first. */
const guarded = new WeakSet<EventEmitter>();

/** The certificate failure that stopped a connection made by {@link createRedis}, if any. */
const fatalErrors = new WeakMap<Redis, Error>();

/** The error that made `redis` give up for good (a TLS certificate failure), or undefined. */
export function redisFatalError(redis: Redis): Error | undefined {
  return fatalErrors.get(redis);
}

/**
 * An ioredis client with the process's (or the given) TLS files and password, and an `error` listener
 * attached from the start, so that ioredis never prints "Unhandled error event". While Redis is away
 * ioredis reconnects by itself; the outage is logged once at warn when it starts and once at info when
 * Redis is back, never per retry. A TLS certificate failure is not retried: it is logged once at error,
 * the client stops reconnecting (its commands reject) and {@link redisFatalError} tells why.
 */
export function createRedis(url: string, options: CreateRedisOptions = {}): Redis {
  const { credentials = processRedisCredentials(), logger, label, ...redisOptions } = options;
  const log = logger ?? (defaultLogger ??= createLogger('redis'));
  const where = { component: 'redis', connection: label, connectionId: ++connectionCount, redis: redactRedisUrl(url) };
  const secure = /^rediss:/i.test(url);
  const userRetry = redisOptions.retryStrategy;
  let redis: Redis | undefined;
  // ioredis takes a URL's user name with an empty password over an explicit `password` option: put it in the URL.
  const withPassword = new URL(url);
  if (credentials.password !== undefined && !withPassword.password) withPassword.password = encodeURIComponent(credentials.password);
  const ioOptions: RedisOptions = {
    ...redisOptions,
    ...(secure ? { tls: { ...(credentials.tls ?? {}) } } : {}),
    retryStrategy: (times) => {
      if (redis && fatalErrors.has(redis)) return null;
      return userRetry ? userRetry(times) : Math.min(times * 50, 1000);
    },
  };
  redis = new Redis(withPassword.toString(), ioOptions);
  const client = redis;
  let downSince: number | undefined;
  client.on('error', (err: Error) => {
    // ioredis listens `once` for a socket's error: a TLS socket that fails twice (a rejected certificate,
    // then the server's alert) would throw the second one. The failed socket's later errors go nowhere.
    const socket = (client as unknown as { stream?: EventEmitter }).stream;
    if (socket && !guarded.has(socket)) {
      guarded.add(socket);
      socket.on('error', () => undefined);
    }
    if (isCertificateError(err)) {
      if (!fatalErrors.has(client)) {
        const failure = certificateFailure(url, err);
        fatalErrors.set(client, failure);
        log.error({ ...where, reason: failure.message }, 'redis.tls.failed');
      }
      return;
    }
    if (downSince !== undefined) return;
    downSince = Date.now();
    log.warn({ ...where, reason: err.message }, 'redis.unavailable');
  });
  client.on('ready', () => {
    if (downSince === undefined) return;
    log.info({ ...where, downMs: Date.now() - downSince }, 'redis.available');
    downSince = undefined;
  });
  return client;
}
