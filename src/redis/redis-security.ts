import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';

/**
 * How a process or client proves itself to Redis and checks Redis back: TLS files (used for
 * `rediss://` URLs) and the password. Files are named, not inlined, so nothing secret sits in a flag;
 * the password comes from the environment (`CS_REDIS_PASSWORD`) or a file (`--redis-password-file`),
 * never from argv, and is never logged.
 */
export interface RedisSecurity {
  /** PEM file of the CA(s) that signed the Redis server's certificate (replaces the system CAs). */
  readonly caFile?: string | undefined;
  /** PEM client certificate, for a Redis with `tls-auth-clients yes`. */
  readonly certFile?: string | undefined;
  /** PEM key of the client certificate. */
  readonly keyFile?: string | undefined;
  /** The password (with the URL's user name, or `default`). A password in the URL wins. */
  readonly password?: string | undefined;
  /** A file holding the password (its first line); read when `password` is not given. */
  readonly passwordFile?: string | undefined;
}

/** RedisSecurity with its files read: what a connection is opened with. */
export interface RedisCredentials {
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly password?: string;
}

let processSecurity: RedisSecurity | undefined;
let processCredentials: RedisCredentials | undefined;

/** The environment variables of {@link RedisSecurity} (the same names as the process options' rows). */
export const REDIS_SECURITY_ENV = {
  caFile: 'CS_REDIS_CA',
  certFile: 'CS_REDIS_CERT',
  keyFile: 'CS_REDIS_KEY',
  password: 'CS_REDIS_PASSWORD',
  passwordFile: 'CS_REDIS_PASSWORD_FILE',
} as const;

/** The RedisSecurity the environment gives (CS_REDIS_CA, CS_REDIS_CERT, CS_REDIS_KEY, CS_REDIS_PASSWORD, CS_REDIS_PASSWORD_FILE). */
export function redisSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): RedisSecurity {
  const get = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return {
    caFile: get(REDIS_SECURITY_ENV.caFile),
    certFile: get(REDIS_SECURITY_ENV.certFile),
    keyFile: get(REDIS_SECURITY_ENV.keyFile),
    password: get(REDIS_SECURITY_ENV.password),
    passwordFile: get(REDIS_SECURITY_ENV.passwordFile),
  };
}

/** The RedisSecurity of resolved process options (TLS files, password file) plus CS_REDIS_PASSWORD from `env`. */
export function redisSecurityOf(
  options: { readonly redisCaFile?: string | undefined; readonly redisCertFile?: string | undefined; readonly redisKeyFile?: string | undefined; readonly redisPasswordFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): RedisSecurity {
  return {
    caFile: options.redisCaFile,
    certFile: options.redisCertFile,
    keyFile: options.redisKeyFile,
    passwordFile: options.redisPasswordFile,
    password: env[REDIS_SECURITY_ENV.password] || undefined,
  };
}


/**
 * Sets the RedisSecurity of every Redis connection this process opens without one of its own (sources,
 * sinks, the JobManager's state); a process calls it once, from its resolved options. Reads the files
 * at once, so a missing file is one clear error at start.
 */
export function setProcessRedisSecurity(security: RedisSecurity): void {
  processCredentials = loadRedisCredentials(security);
  processSecurity = security;
}

/** The process's credentials: those set by {@link setProcessRedisSecurity}, else the environment's. */
export function processRedisCredentials(): RedisCredentials {
  return (processCredentials ??= loadRedisCredentials(processSecurity ?? redisSecurityFromEnv()));
}

/**
 * The credentials of a client: each field given in `options` (even as undefined, to turn it off), else
 * the process's ({@link setProcessRedisSecurity}, e.g. from the `cs` flags), else its environment variable.
 */
export function clientRedisCredentials(options: RedisSecurity, env: NodeJS.ProcessEnv = process.env): RedisCredentials {
  const fromEnv = processSecurity ?? redisSecurityFromEnv(env);
  const pick = <K extends keyof RedisSecurity>(k: K): RedisSecurity[K] => (k in options ? options[k] : fromEnv[k]);
  return loadRedisCredentials({ caFile: pick('caFile'), certFile: pick('certFile'), keyFile: pick('keyFile'), password: pick('password'), passwordFile: pick('passwordFile') });
}

/** Reads the files of a RedisSecurity; one ConfigError naming every file that cannot be read. */
export function loadRedisCredentials(security: RedisSecurity): RedisCredentials {
  const problems: string[] = [];
  const read = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      problems.push(`cannot read the Redis ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return undefined;
    }
  };
  const ca = read(security.caFile, 'CA');
  const cert = read(security.certFile, 'client certificate');
  const key = read(security.keyFile, 'client key');
  if ((security.certFile === undefined) !== (security.keyFile === undefined)) problems.push('a Redis client certificate needs both --redis-cert and --redis-key');
  let password = security.password;
  if (password === undefined && security.passwordFile !== undefined) {
    const text = read(security.passwordFile, 'password');
    if (text !== undefined) password = text.toString('utf8').split(/\r?\n/)[0];
    if (password === '') problems.push(`the Redis password file ${security.passwordFile} is empty`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const tls = ca || cert || key ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } : undefined;
  return { ...(tls ? { tls } : {}), ...(password ? { password } : {}) };
}

/** `redis://user:secret@host` → `redis://user:***@host` (any scheme); anything else unchanged. For every URL that is printed or returned. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
