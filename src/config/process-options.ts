import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The process options of every `cs` process in ONE table: command-line flag ↔ `CS_*` environment
 * variable ↔ default ↔ how the text is parsed. The CLI builds its flags from this table and
 * {@link resolveProcessOptions} validates a set of them once, listing every problem.
 *
 * Precedence: flag, then environment variable, then default.
 */

/** How an option's text becomes a value; each kind validates its own text. */
export type ProcessOptionKind = 'redis-url' | 'http-url' | 'port' | 'count' | 'duration-ms' | 'host' | 'id' | 'path';

/** One row of the table. */
export interface ProcessOptionSpec {
  /** Long flag without its value, e.g. `--redis`. */
  readonly flag: string;
  /** Placeholder shown in help, e.g. `URL`. */
  readonly valueName: string;
  /** Environment variable read when the flag is absent. */
  readonly env: string;
  readonly kind: ProcessOptionKind;
  /** Default as text (parsed like user input); `undefined` means "not set". */
  readonly default: string | (() => string) | undefined;
  /** One line for `--help`. */
  readonly description: string;
}

/** The typed, validated process options (each field's unit in its name). */
export interface ProcessOptions {
  /**
   * The cluster's Redis: JobManager state, and the default address of every Redis source and sink.
   * @default 'redis://127.0.0.1:6379'
   */
  readonly redisUrl: string;
  /**
   * Address the JobManager's REST API listens on. Use `0.0.0.0` so TaskManagers on other machines can reach it.
   * @default '127.0.0.1'
   */
  readonly host: string;
  /**
   * Port of the JobManager's REST API (0 picks a free one).
   * @default 8081
   */
  readonly port: number;
  /**
   * Port of the JobManager's KServe v2 gRPC API (0 picks a free one); off when not set. Off by default so
   * a JobManager opens only the ports it is asked for: a fixed default would make two JobManagers (or
   * `cs start` beside `cs jobmanager start`) on one machine collide. Triton's gRPC port is 8001.
   * @default undefined
   */
  readonly grpcPort: number | undefined;
  /**
   * Where a TaskManager or the CLI finds the JobManager.
   * @default 'http://127.0.0.1:8081'
   */
  readonly jobmanagerUrl: string;
  /**
   * Subtasks a TaskManager runs at once.
   * @default 1
   */
  readonly slots: number;
  /**
   * TaskManager id; generated as `tm-<hostname>-<random>` when not set.
   * @default undefined
   */
  readonly taskManagerId: string | undefined;
  /**
   * How often TaskManagers send heartbeats (the JobManager tells them), in ms.
   * @default 2000
   */
  readonly heartbeatIntervalMs: number;
  /**
   * A TaskManager silent for this long loses its subtasks to the others, in ms.
   * @default 10000
   */
  readonly heartbeatTimeoutMs: number;
  /**
   * Where submitted topology files and models are cached.
   * @default `<os tmpdir>/cluster-serving`
   */
  readonly cacheDir: string;
  /**
   * PEM file of the CA that signed the Redis server's certificate, for `rediss://` URLs (replaces the system CAs).
   * @default undefined
   */
  readonly redisCaFile: string | undefined;
  /**
   * PEM client certificate for Redis (`tls-auth-clients yes`), with {@link redisKeyFile}.
   * @default undefined
   */
  readonly redisCertFile: string | undefined;
  /**
   * PEM key of the Redis client certificate.
   * @default undefined
   */
  readonly redisKeyFile: string | undefined;
  /**
   * A file whose first line is the Redis password. The password itself is taken only from the
   * environment (`CS_REDIS_PASSWORD`) or this file, never from a flag: argv is visible in `ps`.
   * @default undefined
   */
  readonly redisPasswordFile: string | undefined;
}

export type ProcessOptionName = keyof ProcessOptions;

/** The table. Every flag of every `cs` command that starts a process comes from here. */
export const PROCESS_OPTIONS: { readonly [K in ProcessOptionName]: ProcessOptionSpec } = Object.freeze({
  redisUrl: {
    flag: '--redis',
    valueName: 'URL',
    env: 'CS_REDIS_URL',
    kind: 'redis-url',
    default: 'redis://127.0.0.1:6379',
    description: 'Redis of the cluster (state, default source and sink)',
  },
  host: {
    flag: '--host',
    valueName: 'ADDRESS',
    env: 'CS_JOBMANAGER_HOST',
    kind: 'host',
    default: '127.0.0.1',
    description: 'address the JobManager listens on (0.0.0.0 for TaskManagers on other machines)',
  },
  port: {
    flag: '--port',
    valueName: 'PORT',
    env: 'CS_JOBMANAGER_PORT',
    kind: 'port',
    default: '8081',
    description: 'port of the JobManager REST API (0 = any free port)',
  },
  grpcPort: {
    flag: '--grpc-port',
    valueName: 'PORT',
    env: 'CS_JOBMANAGER_GRPC_PORT',
    kind: 'port',
    default: undefined,
    description: 'port of the KServe v2 gRPC API (off unless set; 0 = any free port; Triton uses 8001)',
  },
  jobmanagerUrl: {
    flag: '--jobmanager',
    valueName: 'URL',
    env: 'CS_JOBMANAGER_URL',
    kind: 'http-url',
    default: 'http://127.0.0.1:8081',
    description: 'URL of the JobManager',
  },
  slots: {
    flag: '--slots',
    valueName: 'N',
    env: 'CS_TASKMANAGER_SLOTS',
    kind: 'count',
    default: '1',
    description: 'subtasks this TaskManager runs at once',
  },
  taskManagerId: {
    flag: '--id',
    valueName: 'ID',
    env: 'CS_TASKMANAGER_ID',
    kind: 'id',
    default: undefined,
    description: 'TaskManager id (default tm-<hostname>-<random>)',
  },
  heartbeatIntervalMs: {
    flag: '--heartbeat-interval-ms',
    valueName: 'MS',
    env: 'CS_HEARTBEAT_INTERVAL_MS',
    kind: 'duration-ms',
    default: '2000',
    description: 'how often TaskManagers send heartbeats',
  },
  heartbeatTimeoutMs: {
    flag: '--heartbeat-timeout-ms',
    valueName: 'MS',
    env: 'CS_HEARTBEAT_TIMEOUT_MS',
    kind: 'duration-ms',
    default: '10000',
    description: 'a TaskManager silent this long loses its subtasks',
  },
  cacheDir: {
    flag: '--cache-dir',
    valueName: 'DIR',
    env: 'CS_CACHE_DIR',
    kind: 'path',
    default: () => join(tmpdir(), 'cluster-serving'),
    description: 'cache of submitted topologies and models',
  },
  redisCaFile: {
    flag: '--redis-ca',
    valueName: 'FILE',
    env: 'CS_REDIS_CA',
    kind: 'path',
    default: undefined,
    description: 'PEM CA that signed the Redis server certificate (rediss:// URLs)',
  },
  redisCertFile: {
    flag: '--redis-cert',
    valueName: 'FILE',
    env: 'CS_REDIS_CERT',
    kind: 'path',
    default: undefined,
    description: 'PEM client certificate for Redis (rediss:// URLs, with --redis-key)',
  },
  redisKeyFile: {
    flag: '--redis-key',
    valueName: 'FILE',
    env: 'CS_REDIS_KEY',
    kind: 'path',
    default: undefined,
    description: 'PEM key of the Redis client certificate',
  },
  redisPasswordFile: {
    flag: '--redis-password-file',
    valueName: 'FILE',
    env: 'CS_REDIS_PASSWORD_FILE',
    kind: 'path',
    default: undefined,
    description: 'file holding the Redis password (or set CS_REDIS_PASSWORD; never put it in --redis)',
  },
});

/** The options that say how to reach Redis securely (TLS files, password file); every process and client command takes them. */
export const REDIS_SECURITY_OPTION_NAMES = ['redisCaFile', 'redisCertFile', 'redisKeyFile', 'redisPasswordFile'] as const satisfies readonly ProcessOptionName[];

/** The default of one option as text, or undefined when it has none. */
export function defaultText(spec: ProcessOptionSpec): string | undefined {
  return typeof spec.default === 'function' ? spec.default() : spec.default;
}

export type RedisSecurityOptionName = (typeof REDIS_SECURITY_OPTION_NAMES)[number];

/** The options a JobManager process reads. */
export const JOBMANAGER_OPTION_NAMES = ['redisUrl', 'host', 'port', 'grpcPort', 'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'cacheDir', ...REDIS_SECURITY_OPTION_NAMES] as const satisfies readonly ProcessOptionName[];

/** The options a TaskManager process reads. */
export const TASKMANAGER_OPTION_NAMES = ['jobmanagerUrl', 'redisUrl', 'slots', 'taskManagerId', 'cacheDir', ...REDIS_SECURITY_OPTION_NAMES] as const satisfies readonly ProcessOptionName[];
