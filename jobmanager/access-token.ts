import { createHash, timingSafeEqual } from 'node:crypto';
import { ClusterServingError } from '../src/errors';

/** The paths anyone may call even when a token is required: Triton- and Kubernetes-style probes. */
const OPEN_HTTP_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready', '/healthz', '/readyz']);

/** The KServe gRPC methods anyone may call: the probes' equivalents. */
const OPEN_GRPC_METHODS: ReadonlySet<string> = new Set(['ServerLive', 'ServerReady']);

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** `Bearer <token>` (scheme in any case) → the token; undefined for anything else. */
function bearerToken(header: string | readonly string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * The bearer token a JobManager requires on its REST, KServe HTTP and KServe gRPC APIs. A presented token
 * is compared in constant time (SHA-256 digests of both, then `timingSafeEqual`, so neither the content
 * nor the length leaks through timing). The token itself is kept only as its digest and never logged.
 *
 * @example
 * const access = new AccessToken(token);
 * access.check(request.headers.authorization); // throws CS_ERR_UNAUTHENTICATED unless it is `Bearer <token>`
 */
export class AccessToken {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** Whether an HTTP path (query string ignored) is open to all. */
  static isOpenPath(url: string): boolean {
    const path = url.split(/[?#]/, 1)[0] ?? url;
    return OPEN_HTTP_PATHS.has(path);
  }

  /** Whether a KServe gRPC method (its short name, e.g. `ModelInfer`) is open to all. */
  static isOpenGrpcMethod(method: string): boolean {
    return OPEN_GRPC_METHODS.has(method);
  }

  /** Whether an `Authorization` header value carries this token. */
  accepts(header: string | readonly string[] | undefined): boolean {
    const token = bearerToken(header);
    return token !== undefined && timingSafeEqual(digest(token), this.expected);
  }

  /** Throws CS_ERR_UNAUTHENTICATED unless the `Authorization` header value carries this token. */
  check(header: string | readonly string[] | undefined): void {
    if (this.accepts(header)) return;
    const message =
      bearerToken(header) === undefined
        ? 'this JobManager requires a bearer token (Authorization: Bearer <token>): pass it with --token-file FILE (CS_TOKEN_FILE) or CS_TOKEN'
        : 'the bearer token is not the one this JobManager requires';
    throw new ClusterServingError('CS_ERR_UNAUTHENTICATED', message);
  }
}
