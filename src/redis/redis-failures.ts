import { ClusterServingError, ConnectorError } from '../errors';
import { RespError } from './resp-parser';
import { redactRedisUrl } from './redis-security';

/** Error replies Redis gives while it cannot serve yet but soon will (loading its data, a failover). */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** Socket and ioredis failures that a reconnect can cure. */
const TRANSIENT_MESSAGE = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|Connection is closed|connection closed|Stream isn't writeable|max retries per request|socket hang up|connect(ing)? .*timed? ?out/i;

/** TLS codes that mean "this server's certificate (or ours) is not accepted": no retry cures them. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
]);

function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && out.length < 5; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

/** Whether `err` (or its cause) is a TLS certificate failure: the server's certificate is not trusted, or it refused ours. */
export function isCertificateError(err: unknown): boolean {
  return causes(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_CODES.has(code)) return true;
    return e instanceof Error && /certificate|self[- ]signed|unknown ca|wrong version number/i.test(e.message) && !(e instanceof RespError);
  });
}

/**
 * Whether `err` is Redis being away for a while (refused or dropped connection, `LOADING`, a failover)
 * rather than an answer: the request may be sent again once Redis is back.
 */
export function isTransientRedisError(err: unknown): boolean {
  if (isCertificateError(err)) return false;
  return causes(err).some((e) => {
    if (!(e instanceof Error)) return false;
    return TRANSIENT_REPLY.test(e.message) || TRANSIENT_MESSAGE.test(e.message);
  });
}

/** The clear, not retriable error for a certificate failure talking to Redis at `url`. */
export function certificateFailure(url: string, err: unknown): ClusterServingError {
  const cause = causes(err).find((e) => e instanceof Error && isCertificateError(e)) as Error | undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new ConnectorError(
    `TLS to Redis at ${redactRedisUrl(url)} failed: ${cause?.message ?? String(err)}${typeof code === 'string' ? ` (${code})` : ''}; ` +
      'give the CA that signed the server certificate with --redis-ca / CS_REDIS_CA (and a client certificate with --redis-cert and --redis-key when the server asks for one)',
    { cause: err, retriable: false },
  );
}

/** A transient failure as a retriable ConnectorError (for the retry module), anything else unchanged. */
export function asRetriable(err: unknown, url: string): unknown {
  if (err instanceof ClusterServingError) return err;
  if (isCertificateError(err)) return certificateFailure(url, err);
  if (isTransientRedisError(err)) return new ConnectorError(`Redis at ${redactRedisUrl(url)} unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  return err;
}
