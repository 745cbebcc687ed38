import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';
import { PROCESS_OPTIONS } from './process-options';

/** The token and CA a client of the JobManager uses (and the token a JobManager requires). */
export interface JobManagerAccess {
  /** Sent as `Authorization: Bearer <token>`; undefined: none. */
  readonly token?: string | undefined;
  /** PEM CA certificate(s) trusted for an https JobManager URL instead of the system's; undefined: the system's. */
  readonly ca?: Buffer | undefined;
}

/** Printable ASCII without spaces (what an HTTP header and gRPC metadata carry), at most 4096. */
const TOKEN_PATTERN = /^[\x21-\x7e]{1,4096}$/;

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError([`${flag} ${JSON.stringify(path)}: cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`]);
  }
}

/**
 * The token of resolved process options: `token` as given, else the first line of `tokenFile` (surrounding
 * white space dropped), else undefined. A file that holds no usable token is a ConfigError that names the
 * file, never its content.
 */
export function readToken(options: { readonly token?: string | undefined; readonly tokenFile?: string | undefined }): string | undefined {
  if (options.token !== undefined) return options.token;
  if (options.tokenFile === undefined) return undefined;
  const token = readText(options.tokenFile, PROCESS_OPTIONS.tokenFile.flag).trim();
  if (!TOKEN_PATTERN.test(token)) {
    const why = token === '' ? 'the file is empty' : 'the token must be one line of printable ASCII without spaces (at most 4096 characters)';
    throw new ConfigError([`${PROCESS_OPTIONS.tokenFile.flag} ${JSON.stringify(options.tokenFile)}: ${why}`]);
  }
  return token;
}

/**
 * What a client needs to reach the JobManager, read from resolved process options: the token (see
 * {@link readToken}) and the CA file's PEM text (a ConfigError when it holds no certificate).
 *
 * @example
 * const access = readJobManagerAccess(resolveProcessOptions(JOBMANAGER_CLIENT_OPTION_NAMES));
 * const client = new JobManagerClient(url, access);
 */
export function readJobManagerAccess(options: { readonly token?: string | undefined; readonly tokenFile?: string | undefined; readonly caFile?: string | undefined }): JobManagerAccess {
  const token = readToken(options);
  if (options.caFile === undefined) return { token };
  const pem = readText(options.caFile, PROCESS_OPTIONS.caFile.flag);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError([`${PROCESS_OPTIONS.caFile.flag} ${JSON.stringify(options.caFile)}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  return { token, ca: Buffer.from(pem) };
}
