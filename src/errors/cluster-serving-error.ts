import { ERROR_CODES, type ErrorCode } from './codes';

/** Context fields that locate an error; never tensor payloads. */
export interface ErrorContext {
  jobId?: string;
  splitId?: string;
  uri?: string;
}

/**
 * The one base class of every error the product raises on purpose. `code` is stable (see codes.ts),
 * `retriable` tells the retry module whether trying again can help, `cause` keeps the root error.
 */
export class ClusterServingError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; context?: ErrorContext; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
    this.context = options.context ?? {};
  }
}

/** Bad input for one request: becomes an error result for that request alone. */
export class RequestError extends ClusterServingError {
  constructor(code: 'CS_ERR_BAD_REQUEST' | 'CS_ERR_SHAPE' | 'CS_ERR_INFERENCE' | 'CS_ERR_USER_OPERATOR', message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(code, message, options);
  }
}

/** An invalid topology or config: carries every problem found, each as `path: message`. */
export class TopologyError extends ClusterServingError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options: { cause?: unknown } = {}) {
    super('CS_ERR_TOPOLOGY', `invalid topology:\n  - ${problems.join('\n  - ')}`, options);
    this.problems = problems;
  }
}

export class ConfigError extends ClusterServingError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CS_ERR_CONFIG', problems.length === 1 ? problems[0]! : `invalid options:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** A server could not be reached; retriable by default (not when it refused us: a password, a certificate). */
export class ConnectorError extends ClusterServingError {
  constructor(message: string, options: { cause?: unknown; context?: ErrorContext; retriable?: boolean } = {}) {
    super('CS_ERR_CONNECTOR', message, options);
  }
}

/** Turns anything thrown into a ClusterServingError, keeping the original as `cause`. */
export function toClusterServingError(err: unknown, fallback: ErrorCode = 'CS_ERR_INTERNAL'): ClusterServingError {
  if (err instanceof ClusterServingError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ClusterServingError(fallback, message, { cause: err });
}
