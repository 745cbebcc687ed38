import type { FastifyError } from 'fastify';
import { ClusterServingError, type ErrorCode } from '../../src/errors';
import type { ErrorResponse } from '../../src/protocol/kserve-v2/messages';

/** Largest inference request body (after decompression): as a topology's default `decode.maxRequestBytes`. */
export const INFER_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

const STATUS: Partial<Record<ErrorCode, number>> = {
  CS_ERR_BAD_REQUEST: 400,
  CS_ERR_SHAPE: 400,
  CS_ERR_UNAUTHENTICATED: 401,
  CS_ERR_NOT_FOUND: 404,
  CS_ERR_MODEL_LOAD: 503,
  CS_ERR_CLOSED: 503,
  CS_ERR_CONNECTOR: 503,
  CS_ERR_TIMEOUT: 504,
};

/** The HTTP status and protocol error body of anything a KServe route throws (or an error result). */
export function toKServeError(err: unknown): { status: number; body: ErrorResponse } {
  if (err instanceof ClusterServingError) return { status: STATUS[err.code] ?? 500, body: { error: err.message, code: err.code } };
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message ?? 'bad request', code: 'CS_ERR_BAD_REQUEST' } };
  }
  return { status: 500, body: { error: err instanceof Error ? err.message : String(err), code: 'CS_ERR_INTERNAL' } };
}
