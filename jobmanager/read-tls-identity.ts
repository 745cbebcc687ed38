import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../src/errors';
import { PROCESS_OPTIONS } from '../src/config/process-options';

/** The JobManager's TLS certificate (chain) and private key, PEM. */
export interface TlsIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function read(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError([`${flag} ${JSON.stringify(path)}: cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`]);
  }
}

/**
 * Reads `--tls-cert` and `--tls-key` and checks that they make a usable identity (both PEM, the key
 * matching the certificate) before anything listens: one ConfigError line naming the files otherwise.
 * The key's content is never part of an error.
 */
export async function readTlsIdentity(certFile: string, keyFile: string): Promise<TlsIdentity> {
  const [cert, key] = await Promise.all([read(certFile, PROCESS_OPTIONS.tlsCert.flag), read(keyFile, PROCESS_OPTIONS.tlsKey.flag)]);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([`${PROCESS_OPTIONS.tlsCert.flag} ${JSON.stringify(certFile)} with ${PROCESS_OPTIONS.tlsKey.flag} ${JSON.stringify(keyFile)}: not a usable PEM certificate and matching private key (${reason})`]);
  }
  return { cert, key };
}
