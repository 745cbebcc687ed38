import type { FastifyInstance } from 'fastify';
import { AccessToken } from '../access-token';
import { isDashboardPath } from './dashboard';
import { toErrorReply } from './error-handler';
import { toKServeError } from './kserve-v2-errors';

/** The challenge a 401 carries (RFC 6750). */
export const WWW_AUTHENTICATE = 'Bearer realm="cluster-serving"';

/**
 * Makes every route of `app` require `token` (`Authorization: Bearer <token>`), except the open health
 * probes ({@link AccessToken.isOpenPath}) and the dashboard's files, which hold no data ({@link isDashboardPath}). Checked in `onRequest`, before a body is read; a refusal is 401
 * with `WWW-Authenticate: Bearer` and CS_ERR_UNAUTHENTICATED in the API's own error shape (KServe's
 * `{error, code}` under /v2, the REST API's `{code, message}` elsewhere), unknown paths included.
 */
export function requireToken(app: FastifyInstance, token: AccessToken): void {
  app.addHook('onRequest', async (request, reply) => {
    if (AccessToken.isOpenPath(request.url) || isDashboardPath(request.url)) return;
    try {
      token.check(request.headers.authorization);
    } catch (err) {
      const { status, body } = request.url === '/v2' || request.url.startsWith('/v2/') || request.url.startsWith('/v2?') ? toKServeError(err) : toErrorReply(err);
      return reply.header('www-authenticate', WWW_AUTHENTICATE).status(status).send(body);
    }
    return undefined;
  });
}
