import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A self-signed certificate and its key, as files and PEM text. */
export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
}

/**
 * Writes a fresh self-signed certificate for `localhost` and 127.0.0.1 (subjectAltName) and its RSA key
 * into `dir` with the openssl CLI; the certificate is its own CA, so a client trusts it with `ca: cert`.
 */
export async function selfSignedCertificate(dir: string, name = 'jobmanager'): Promise<TestCertificate> {
  const certFile = join(dir, `${name}-cert.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { timeout: 60_000 });
  return { certFile, keyFile, cert: await readFile(certFile) };
}
