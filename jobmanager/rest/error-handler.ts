import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorBody } from '../../src/cluster-api/dto';
import { ClusterServingError, TopologyError, type ErrorCode } from '../../src/errors';
import type { Logger } from '../../src/logging/logger';

const STATUS: Partial<Record<ErrorCode, number>> = {
  CS_ERR_TOPOLOGY: 400,
  CS_ERR_CONFIG: 400,
  CS_ERR_BAD_REQUEST: 400,
  CS_ERR_UNAUTHENTICATED: 401,
  CS_ERR_NOT_FOUND: 404,
  CS_ERR_FORBIDDEN: 403,
  CS_ERR_CLOSED: 503,
  CS_ERR_CONNECTOR: 503,
};

/** The HTTP status and ErrorBody of anything a route throws. */
export function toErrorReply(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof TopologyError) {
    return { status: 400, body: { code: err.code, message: 'invalid topology', problems: err.problems } };
  }
  if (err instanceof ClusterServingError) {
    return { status: STATUS[err.code] ?? 500, body: { code: err.code, message: err.message } };
  }
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // fastify's own: malformed JSON, body too large, unsupported media type, …
    return { status: fe.statusCode, body: { code: 'CS_ERR_BAD_REQUEST', message: fe.message ?? 'bad request' } };
  }
  return { status: 500, body: { code: 'CS_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } };
}

/** Every error leaves the JobManager as an ErrorBody; 5xx are logged with their cause. */
export function installErrorHandler(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    const { status, body } = toErrorReply(err);
    if (status >= 500) logger.error({ err, method: request.method, url: request.url }, 'jobmanager.rest.error');
    else logger.debug({ code: body.code, method: request.method, url: request.url, message: body.message }, 'jobmanager.rest.rejected');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = { code: 'CS_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}` };
    void reply.status(404).send(body);
  });
}
