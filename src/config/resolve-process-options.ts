import { resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors';
import { redactRedisUrl } from '../redis/redis-security';
import { PROCESS_OPTIONS, defaultText, type ProcessOptionKind, type ProcessOptionName, type ProcessOptions, type ProcessOptionSpec } from './process-options';

/** Values given explicitly (flags, or a caller's object); strings are parsed like the command line. */
export type ProcessOptionValues = { readonly [K in ProcessOptionName]?: string | number | undefined };

type Parsed = { ok: true; value: string | number } | { ok: false; problem: string };

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

function parseInteger(text: string, min: number, max: number, what: string): Parsed {
  if (!/^\d+$/.test(text.trim())) return { ok: false, problem: `must be ${what} (a whole number from ${min} to ${max})` };
  const n = Number(text.trim());
  if (n < min || n > max) return { ok: false, problem: `must be ${what} from ${min} to ${max}` };
  return { ok: true, value: n };
}

function parseUrl(text: string, protocols: readonly string[], example: string): Parsed {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return { ok: false, problem: `must be a URL such as ${example}` };
  }
  if (!protocols.includes(url.protocol)) return { ok: false, problem: `must start with ${protocols.map((p) => `${p}//`).join(' or ')} (e.g. ${example})` };
  return { ok: true, value: text.trim().replace(/\/+$/, '') };
}

/** Parses one option's text by its kind. */
function parseValue(kind: ProcessOptionKind, text: string): Parsed {
  switch (kind) {
    case 'redis-url':
      return parseUrl(text, ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
    case 'http-url':
      return parseUrl(text, ['http:', 'https:'], 'http://127.0.0.1:8081');
    case 'port':
      return parseInteger(text, 0, 65535, 'a port');
    case 'count':
      return parseInteger(text, 1, 1024, 'a count');
    case 'duration-ms':
      return parseInteger(text, 10, 86_400_000, 'a duration in ms');
    case 'host':
      return text.trim() !== '' && !/\s/.test(text.trim()) ? { ok: true, value: text.trim() } : { ok: false, problem: 'must be a host name or IP address' };
    case 'id':
      return ID_PATTERN.test(text) ? { ok: true, value: text } : { ok: false, problem: 'must be letters, digits, "-", "_" or "." (at most 100)' };
    case 'path':
      return text.trim() !== '' ? { ok: true, value: resolvePath(text) } : { ok: false, problem: 'must be a folder path' };
  }
}

function describeSource(spec: ProcessOptionSpec, from: 'flag' | 'env' | 'default', text: string): string {
  // A Redis URL's password is never echoed, not even in an error.
  if (spec.kind === 'redis-url') text = redactRedisUrl(text);
  if (from === 'flag') return `${spec.flag} ${JSON.stringify(text)}`;
  if (from === 'env') return `${spec.env}=${JSON.stringify(text)}`;
  return `default of ${spec.flag} ${JSON.stringify(text)}`;
}

/**
 * Resolves the named options: explicit value, else environment variable, else default; validates them
 * all at once and throws one {@link ConfigError} listing every problem (each naming the flag or the
 * variable it came from). The result is frozen.
 *
 * @example
 * const opts = resolveProcessOptions(['redisUrl', 'port'], { values: { port: '9000' } });
 * // opts.port === 9000, opts.redisUrl === process.env.CS_REDIS_URL ?? 'redis://127.0.0.1:6379'
 */
export function resolveProcessOptions<K extends ProcessOptionName>(
  names: readonly K[],
  input: { values?: ProcessOptionValues; env?: NodeJS.ProcessEnv } = {},
): Readonly<Pick<ProcessOptions, K>> {
  const values = input.values ?? {};
  const env = input.env ?? process.env;
  const problems: string[] = [];
  const out: Record<string, string | number | undefined> = {};
  for (const name of names) {
    const spec = PROCESS_OPTIONS[name];
    const given = values[name];
    const envText = env[spec.env];
    let text: string | undefined;
    let from: 'flag' | 'env' | 'default';
    if (given !== undefined) {
      text = String(given);
      from = 'flag';
    } else if (envText !== undefined && envText !== '') {
      text = envText;
      from = 'env';
    } else {
      text = defaultText(spec);
      from = 'default';
    }
    if (text === undefined) {
      out[name] = undefined;
      continue;
    }
    const parsed = parseValue(spec.kind, text);
    if (parsed.ok) out[name] = parsed.value;
    else problems.push(`${describeSource(spec, from, text)}: ${parsed.problem}`);
  }
  const interval = out.heartbeatIntervalMs;
  const timeout = out.heartbeatTimeoutMs;
  if (typeof interval === 'number' && typeof timeout === 'number' && timeout <= interval) {
    problems.push(`${PROCESS_OPTIONS.heartbeatTimeoutMs.flag} (${timeout}) must be larger than ${PROCESS_OPTIONS.heartbeatIntervalMs.flag} (${interval})`);
  }
  if (typeof out.port === 'number' && out.port !== 0 && out.grpcPort === out.port) {
    problems.push(`${PROCESS_OPTIONS.grpcPort.flag} (${out.grpcPort}) must differ from ${PROCESS_OPTIONS.port.flag}: the REST and gRPC APIs listen on ports of their own`);
  }
  const tlsFiles = (['redisCaFile', 'redisCertFile', 'redisKeyFile'] as const).filter((k) => typeof out[k] === 'string');
  if (typeof out.redisUrl === 'string' && tlsFiles.length > 0 && !out.redisUrl.startsWith('rediss://')) {
    problems.push(`${tlsFiles.map((k) => PROCESS_OPTIONS[k].flag).join(', ')} need a rediss:// URL (TLS), got ${PROCESS_OPTIONS.redisUrl.flag} ${redactRedisUrl(out.redisUrl)}`);
  }
  if ((typeof out.redisCertFile === 'string') !== (typeof out.redisKeyFile === 'string') && 'redisCertFile' in out) {
    problems.push(`${PROCESS_OPTIONS.redisCertFile.flag} and ${PROCESS_OPTIONS.redisKeyFile.flag} go together`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as unknown as Readonly<Pick<ProcessOptions, K>>;
}
