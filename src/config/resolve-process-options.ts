import { statSync } from 'node:fs';
import { delimiter, resolve as resolvePath } from 'node:path';
import { CLUSTER_NAME_PATTERN } from '../cluster-api/keys';
import { ConfigError } from '../errors';
import { logFormatProblem, logLevelProblem } from '../logging/logger';
import { redactRedisUrl } from '../redis/redis-security';
import { parseDuration } from './parse-duration';
import { PROCESS_OPTIONS, defaultText, type ProcessOptionKind, type ProcessOptionName, type ProcessOptions, type ProcessOptionSpec } from './process-options';

/** Values given explicitly (flags, or a caller's object); strings are parsed like the command line. */
export type ProcessOptionValues = { readonly [K in ProcessOptionName]?: string | number | boolean | readonly string[] | undefined };

type Parsed = { ok: true; value: string | number | boolean | readonly string[] } | { ok: false; problem: string };

/** Printable ASCII without spaces (what an HTTP header and gRPC metadata carry), at most 4096. */
const SECRET_PATTERN = /^[\x21-\x7e]{1,4096}$/;

function parseFile(text: string): Parsed {
  if (text.trim() === '') return { ok: false, problem: 'must be a file path' };
  const path = resolvePath(text);
  try {
    if (statSync(path).isFile()) return { ok: true, value: path };
    return { ok: false, problem: 'is not a file' };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, problem: code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})` };
  }
}

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
    case 'duration': {
      // A bare number is ms: what code passes (and a resolved option handed on, as `cs start` does).
      const ms = /^\s*\d+\s*$/.test(text) ? Number(text) : parseDuration(text);
      if (ms === undefined) return { ok: false, problem: 'must be a number with a unit: ms, s, m, h or d (e.g. 30s, 15m, 1h)' };
      return ms >= 1000 && ms <= 366 * 86_400_000 ? { ok: true, value: ms } : { ok: false, problem: 'must be from 1s to 366d' };
    }
    case 'log-level':
    case 'log-format': {
      const problem = kind === 'log-level' ? logLevelProblem(text) : logFormatProblem(text);
      return problem === undefined ? { ok: true, value: text.trim().toLowerCase() } : { ok: false, problem };
    }
    case 'host':
      return text.trim() !== '' && !/\s/.test(text.trim()) ? { ok: true, value: text.trim() } : { ok: false, problem: 'must be a host name or IP address' };
    case 'id':
      return ID_PATTERN.test(text) ? { ok: true, value: text } : { ok: false, problem: 'must be letters, digits, "-", "_" or "." (at most 100)' };
    case 'cluster-name':
      return CLUSTER_NAME_PATTERN.test(text) ? { ok: true, value: text } : { ok: false, problem: 'must be letters, digits, "-" or "_" (1 to 32)' };
    case 'path':
      return text.trim() !== '' ? { ok: true, value: resolvePath(text) } : { ok: false, problem: 'must be a folder path' };
    case 'secret':
      return SECRET_PATTERN.test(text.trim()) ? { ok: true, value: text.trim() } : { ok: false, problem: 'must be printable ASCII without spaces (at most 4096 characters)' };
    case 'file':
      return parseFile(text);
    case 'switch':
      return parseSwitch(text);
    case 'path-list':
      return { ok: true, value: Object.freeze(text.split(delimiter).filter((p) => p.trim() !== '').map((p) => resolvePath(p))) };
  }
}

/** `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case); a bare flag is given as `true`. */
function parseSwitch(text: string): Parsed {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return { ok: true, value: true };
  if (['0', 'false', 'no', 'off', ''].includes(t)) return { ok: true, value: false };
  return { ok: false, problem: 'must be 1/true/yes/on or 0/false/no/off' };
}

/** A value given in code or by the CLI, as the text its kind parses (a list joins with the path delimiter). */
function givenText(value: string | number | boolean | readonly string[]): string {
  return Array.isArray(value) ? value.join(delimiter) : String(value);
}

function describeSource(spec: ProcessOptionSpec, from: 'flag' | 'env' | 'default', given: string): string {
  const text = spec.kind === 'secret' ? '(hidden)' : given;
  if (spec.kind === 'secret') return from === 'env' ? `${spec.env}=${text}` : `${spec.flag} ${text}`;
  // A Redis URL's password is never echoed, not even in an error.
  if (spec.kind === 'redis-url') return describeSource({ ...spec, kind: 'path' }, from, redactRedisUrl(given));
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
  const out: Record<string, string | number | boolean | readonly string[] | undefined> = {};
  const sources: Partial<Record<ProcessOptionName, 'flag' | 'env' | 'default'>> = {};
  for (const name of names) {
    const spec = PROCESS_OPTIONS[name];
    const given = values[name];
    const envText = env[spec.env];
    let text: string | undefined;
    let from: 'flag' | 'env' | 'default';
    if (given !== undefined) {
      text = givenText(given);
      from = 'flag';
    } else if (envText !== undefined && envText !== '') {
      text = envText;
      from = 'env';
    } else {
      text = defaultText(spec);
      from = 'default';
    }
    if (text === undefined) {
      out[name] = spec.kind === 'switch' ? false : spec.kind === 'path-list' ? Object.freeze([]) : undefined;
      continue;
    }
    sources[name] = from;
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
  // The token from a flag beats a token file from the environment, and the other way round.
  if (out.token !== undefined && out.tokenFile !== undefined && sources.token !== sources.tokenFile) {
    if (sources.token === 'flag') out.tokenFile = undefined;
    else out.token = undefined;
  }
  if (out.token !== undefined && out.tokenFile !== undefined) {
    problems.push(`give the token once: ${PROCESS_OPTIONS.token.flag} (${PROCESS_OPTIONS.token.env}) or ${PROCESS_OPTIONS.tokenFile.flag} (${PROCESS_OPTIONS.tokenFile.env}), not both`);
  }
  if ((out.tlsCert === undefined) !== (out.tlsKey === undefined) && names.some((n) => n === 'tlsCert' || n === 'tlsKey')) {
    problems.push(`${PROCESS_OPTIONS.tlsCert.flag} and ${PROCESS_OPTIONS.tlsKey.flag} go together: give both (certificate and private key) or neither`);
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
