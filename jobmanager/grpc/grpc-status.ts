import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';
import { ClusterServingError, type ErrorCode } from '../../src/errors';

/** The gRPC status of each error code; any other code is INTERNAL. */
const STATUS: Partial<Record<ErrorCode, status>> = {
  CS_ERR_BAD_REQUEST: status.INVALID_ARGUMENT,
  CS_ERR_SHAPE: status.INVALID_ARGUMENT,
  CS_ERR_NOT_FOUND: status.NOT_FOUND,
  CS_ERR_UNAUTHENTICATED: status.UNAUTHENTICATED,
  CS_ERR_MODEL_LOAD: status.UNAVAILABLE,
  CS_ERR_CLOSED: status.UNAVAILABLE,
  CS_ERR_CONNECTOR: status.UNAVAILABLE,
  CS_ERR_TIMEOUT: status.DEADLINE_EXCEEDED,
};

/** The trailing metadata key that carries our error code (CS_ERR_*) beside the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'cs-error-code';

/**
 * The gRPC status of anything a KServe gRPC call throws, as the HTTP API maps the same errors: a request
 * that does not fit the model is INVALID_ARGUMENT, an unknown model NOT_FOUND, a missed deadline
 * DEADLINE_EXCEEDED, a closing server or unreachable Redis UNAVAILABLE; `details` is the same message
 * the HTTP API sends, and the trailing metadata `cs-error-code` the CS_ERR_* code.
 */
export function toGrpcError(err: unknown): ServerErrorResponse & { code: status } {
  const code: ErrorCode = err instanceof ClusterServingError ? err.code : 'CS_ERR_INTERNAL';
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, code);
  const message = err instanceof Error ? err.message : String(err);
  return { name: 'Error', message, code: STATUS[code] ?? status.INTERNAL, details: message, metadata };
}
