import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../logging/logger';

/**
 * The process options of every `cs` process in ONE table: command-line flag ↔ `CS_*` environment
 * variable ↔ default ↔ how the text is parsed. The CLI builds its flags from this table and
 * {@link resolveProcessOptions} validates a set of them once, listing every problem.
 *
 * Precedence: flag, then environment variable, then default.
 */

/**
 * How an option's text becomes a value; each kind validates its own text. `secret` is text never shown
 * back (not even in a ConfigError); `file` a path to an existing file; `switch` a flag without a value
 * (its env var: 1/true/yes/on or 0/false/no/off); `path-list` a repeatable flag or a path-delimited env var;
 * `duration` a number with a unit (`500ms`, `90s`, `15m`, `1h`, `2d`; a bare number is ms), in ms once parsed; `log-level` and
 * `log-format` the names src/logging/logger.ts accepts.
 */
export type ProcessOptionKind = 'redis-url' | 'http-url' | 'port' | 'count' | 'duration-ms' | 'duration' | 'log-level' | 'log-format' | 'host' | 'id' | 'path' | 'secret' | 'file' | 'switch' | 'path-list' | 'cluster-name';

/** One row of the table. */
export interface ProcessOptionSpec {
  /** Long flag without its value, e.g. `--redis`. */
  readonly flag: string;
  /** Placeholder shown in help, e.g. `URL` (a `switch` takes no value on the command line). */
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
   * Port of a TaskManager's metrics server (`/metrics`, `/healthz`, `/readyz`); 0 picks a free one, which
   * the TaskManager registers with the JobManager (`cs taskmanager list`, `GET /prometheus/targets`), so
   * several TaskManagers on one machine never collide.
   * @default 0
   */
  readonly metricsPort: number;
  /**
   * Address a TaskManager's metrics server listens on: loopback unless asked (`0.0.0.0` for a Prometheus
   * on another machine; the figures name jobs and splits, and need no token).
   * @default '127.0.0.1'
   */
  readonly metricsHost: string;
  /**
   * How often TaskManagers send heartbeats (the JobManager tells them), in ms. The JobManager checks for
   * lost TaskManagers every half interval.
   * @default 500
   */
  readonly heartbeatIntervalMs: number;
  /**
   * A TaskManager silent for this long loses its subtasks to the others, in ms. With the defaults a killed
   * TaskManager's subtasks run elsewhere within about 4.5 s, while one whose event loop is blocked for 2 s
   * keeps them (3.5 s ≥ 2 s pause + one interval + margin).
   * @default 3500
   */
  readonly heartbeatTimeoutMs: number;
  /**
   * Where submitted topology files and models are cached.
   * @default `<os tmpdir>/cluster-serving`
   */
  readonly cacheDir: string;
  /**
   * Bearer token of the JobManager's APIs (REST, KServe HTTP and gRPC): the JobManager requires it, its
   * clients send it. Prefer {@link tokenFile} or the env var: a flag shows in `ps`.
   * @default undefined
   */
  readonly token: string | undefined;
  /**
   * File holding the bearer token (one line); the alternative to {@link token}.
   * @default undefined
   */
  readonly tokenFile: string | undefined;
  /**
   * Lets a JobManager listen beyond loopback without a token (logged as a warning).
   * @default false
   */
  readonly insecure: boolean;
  /**
   * PEM certificate (chain) of the JobManager's HTTP (and gRPC) listener: https when set, with {@link tlsKey}.
   * @default undefined
   */
  readonly tlsCert: string | undefined;
  /**
   * PEM private key of {@link tlsCert}.
   * @default undefined
   */
  readonly tlsKey: string | undefined;
  /**
   * PEM CA certificate(s) a client of the JobManager trusts for an https URL, instead of the system's.
   * @default undefined
   */
  readonly caFile: string | undefined;
  /**
   * Whether TypeScript topologies (code, run on the JobManager at submit and on the TaskManagers) are
   * accepted. Off: `POST /jobs` refuses them with 403 and a TaskManager refuses to load one. `cs start
   * FILE.ts` turns it on for its own loopback-only JobManager and TaskManager.
   * @default false
   */
  readonly allowCodeTopologies: boolean;
  /**
   * Folders model files may be read from (realpath inside one of them); none by default, so models are
   * uploaded with the job (`cs job submit` does) and shipped by content hash. The flag is repeatable; the
   * variable is a path list (`:`-separated, `;` on Windows).
   * @default []
   */
  readonly modelDirs: readonly string[];
  /**
   * The cluster's name: it prefixes every control-plane key (`cs:{<cluster>}:…`), so several clusters
   * share one Redis without touching each other. TaskManagers learn it from their JobManager.
   * @default 'default'
   */
  readonly cluster: string;
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
  /**
   * The JobManager writes each job's throughput, latency percentiles, batch size, lag and errors as
   * TensorBoard scalars here, one run directory per job (`tensorboard --logdir DIR` shows them); off when not set.
   * @default undefined
   */
  readonly tensorboardDir: string | undefined;
  /**
   * Least severe log entries written (`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`).
   * @default 'info'
   */
  readonly logLevel: LogLevel;
  /**
   * How log lines look on stderr: `json`, `pretty` (one readable line each), or `auto` (pretty when stderr
   * is a terminal, JSON otherwise).
   * @default 'auto'
   */
  readonly logFormat: LogFormat;
  /**
   * How long the JobManager keeps a finished (CANCELED or FAILED) job, in ms, counted from when it
   * finished; then it removes the job and its keys from Redis. Running jobs are never removed. Flink's
   * `jobstore.expiration-time` is the same idea, with the same default.
   * @default 3_600_000 (1 h)
   */
  readonly jobRetentionMs: number;
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
  metricsPort: {
    flag: '--metrics-port',
    valueName: 'PORT',
    env: 'CS_METRICS_PORT',
    kind: 'port',
    default: '0',
    description: 'port of the TaskManager\'s /metrics, /healthz and /readyz (0 = any free port, registered with the JobManager)',
  },
  metricsHost: {
    flag: '--metrics-host',
    valueName: 'ADDRESS',
    env: 'CS_METRICS_HOST',
    kind: 'host',
    default: '127.0.0.1',
    description: 'address the TaskManager\'s metrics server listens on (0.0.0.0 for a Prometheus on another machine)',
  },
  heartbeatIntervalMs: {
    flag: '--heartbeat-interval-ms',
    valueName: 'MS',
    env: 'CS_HEARTBEAT_INTERVAL_MS',
    kind: 'duration-ms',
    default: '500',
    description: 'how often TaskManagers send heartbeats (the JobManager checks every half interval)',
  },
  heartbeatTimeoutMs: {
    flag: '--heartbeat-timeout-ms',
    valueName: 'MS',
    env: 'CS_HEARTBEAT_TIMEOUT_MS',
    kind: 'duration-ms',
    default: '3500',
    description: 'a TaskManager silent this long loses its subtasks (to a new epoch: its writes are fenced)',
  },
  cacheDir: {
    flag: '--cache-dir',
    valueName: 'DIR',
    env: 'CS_CACHE_DIR',
    kind: 'path',
    default: () => join(tmpdir(), 'cluster-serving'),
    description: 'cache of submitted topologies and models',
  },
  token: {
    flag: '--token',
    valueName: 'TOKEN',
    env: 'CS_TOKEN',
    kind: 'secret',
    default: undefined,
    description: 'bearer token of the JobManager API (prefer --token-file or the env var: a flag shows in ps)',
  },
  tokenFile: {
    flag: '--token-file',
    valueName: 'FILE',
    env: 'CS_TOKEN_FILE',
    kind: 'file',
    default: undefined,
    description: 'file holding the bearer token of the JobManager API',
  },
  insecure: {
    flag: '--insecure',
    valueName: '',
    env: 'CS_INSECURE',
    kind: 'switch',
    default: undefined,
    description: 'let the JobManager listen beyond loopback without a token (anyone who reaches it can run jobs)',
  },
  tlsCert: {
    flag: '--tls-cert',
    valueName: 'FILE',
    env: 'CS_TLS_CERT',
    kind: 'file',
    default: undefined,
    description: 'PEM certificate of the JobManager: its HTTP and gRPC APIs use TLS (with --tls-key)',
  },
  tlsKey: {
    flag: '--tls-key',
    valueName: 'FILE',
    env: 'CS_TLS_KEY',
    kind: 'file',
    default: undefined,
    description: 'PEM private key of --tls-cert',
  },
  caFile: {
    flag: '--ca',
    valueName: 'FILE',
    env: 'CS_CA_FILE',
    kind: 'file',
    default: undefined,
    description: 'PEM CA certificate to trust for an https JobManager URL (instead of the system CAs)',
  },
  allowCodeTopologies: {
    flag: '--allow-code-topologies',
    valueName: '',
    env: 'CS_ALLOW_CODE_TOPOLOGIES',
    kind: 'switch',
    default: '0',
    description: 'accept and run TypeScript topologies (code from whoever may submit jobs)',
  },
  modelDirs: {
    flag: '--model-dir',
    valueName: 'DIR',
    env: 'CS_MODEL_DIRS',
    kind: 'path-list',
    default: undefined,
    description: `a folder model paths may point into; repeatable, the variable takes a ${delimiter === ':' ? 'colon' : 'semicolon'}-separated list (none by default: models are uploaded with the job)`,
  },
  cluster: {
    flag: '--cluster',
    valueName: 'NAME',
    env: 'CS_CLUSTER',
    kind: 'cluster-name',
    default: 'default',
    description: 'cluster name, prefixing every control-plane key in Redis (letters, digits, - and _, at most 32)',
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
  tensorboardDir: {
    flag: '--tensorboard-dir',
    valueName: 'DIR',
    env: 'CS_TENSORBOARD_DIR',
    kind: 'path',
    default: undefined,
    description: 'write every job\'s throughput, latency, batch size, lag and errors as TensorBoard scalars here, one run per job (off unless set)',
  },
  logLevel: {
    flag: '--log-level',
    valueName: 'LEVEL',
    env: 'CS_LOG_LEVEL',
    kind: 'log-level',
    default: 'info',
    description: `least severe log entries written on stderr: ${LOG_LEVELS.join(', ')}`,
  },
  logFormat: {
    flag: '--log-format',
    valueName: 'FORMAT',
    env: 'CS_LOG_FORMAT',
    kind: 'log-format',
    default: 'auto',
    description: 'log lines as json, pretty (readable) or auto (pretty when stderr is a terminal, else json)',
  },
  jobRetentionMs: {
    flag: '--job-retention',
    valueName: 'DURATION',
    env: 'CS_JOB_RETENTION',
    kind: 'duration',
    default: '1h',
    description: 'how long a finished (canceled or failed) job is kept before it is removed from Redis, e.g. 30s, 15m, 1h, 2d',
  },
});

/** The options of every process: how it logs. */
export const LOGGING_OPTION_NAMES = ['logLevel', 'logFormat'] as const satisfies readonly ProcessOptionName[];

/** The options that say how to reach Redis securely (TLS files, password file); every process and client command takes them. */
export const REDIS_SECURITY_OPTION_NAMES = ['redisCaFile', 'redisCertFile', 'redisKeyFile', 'redisPasswordFile'] as const satisfies readonly ProcessOptionName[];

/** The default of one option as text, or undefined when it has none. */
export function defaultText(spec: ProcessOptionSpec): string | undefined {
  return typeof spec.default === 'function' ? spec.default() : spec.default;
}

export type RedisSecurityOptionName = (typeof REDIS_SECURITY_OPTION_NAMES)[number];

/** The options a JobManager process reads. */
export const JOBMANAGER_OPTION_NAMES = ['redisUrl', 'host', 'port', 'grpcPort', 'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'cacheDir', 'token', 'tokenFile', 'insecure', 'tlsCert', 'tlsKey', 'allowCodeTopologies', 'modelDirs', 'cluster', 'jobRetentionMs', 'tensorboardDir', ...REDIS_SECURITY_OPTION_NAMES, ...LOGGING_OPTION_NAMES] as const satisfies readonly ProcessOptionName[];

/** The options a TaskManager process reads. */
export const TASKMANAGER_OPTION_NAMES = ['jobmanagerUrl', 'redisUrl', 'slots', 'taskManagerId', 'metricsPort', 'metricsHost', 'cacheDir', 'token', 'tokenFile', 'caFile', 'allowCodeTopologies', 'modelDirs', ...REDIS_SECURITY_OPTION_NAMES, ...LOGGING_OPTION_NAMES] as const satisfies readonly ProcessOptionName[];

/** What every client of the JobManager reads to reach it (the CLI's job and taskmanager commands, cs predict, cs bench). */
export const JOBMANAGER_CLIENT_OPTION_NAMES = ['jobmanagerUrl', 'token', 'tokenFile', 'caFile'] as const satisfies readonly ProcessOptionName[];
