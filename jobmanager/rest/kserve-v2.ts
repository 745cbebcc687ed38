import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../src/logging/logger';
import type { ErrorResponse, ModelMetadataResponse, ServerMetadataResponse } from '../../src/protocol/kserve-v2/messages';
import type { InferenceGateway } from '../inference-gateway';
import { toKServeError } from './kserve-v2-errors';

interface ModelParams {
  name: string;
  version?: string;
}

/**
 * The KServe / Open Inference Protocol v2 REST API on the JobManager (SPEC §5; see
 * src/protocol/kserve-v2/messages.ts for the paths and bodies). A model is a job, by its name.
 * Inference requests (`POST …/infer`) do not reach these routes: kserve-v2-infer-handler.ts serves them
 * from Node's HTTP server ahead of fastify (see buildRestServer); they are checked against the model
 * metadata, then sent into the job's stream as native requests (see {@link InferenceGateway}, shared with
 * the gRPC API). Errors are `{"error": "...", "code": "CS_ERR_..."}`.
 */
export function registerKServeV2Routes(app: FastifyInstance, gateway: InferenceGateway, logger: Logger): void {
  void app.register(
    async (v2) => {
      v2.setErrorHandler((err, request, reply) => {
        const { status, body } = toKServeError(err);
        if (status >= 500) logger.error({ err, method: request.method, url: request.url }, 'jobmanager.kserve.error');
        else logger.debug({ code: body.code, method: request.method, url: request.url, message: body.error }, 'jobmanager.kserve.rejected');
        void reply.status(status).send(body);
      });
      v2.setNotFoundHandler((request, reply) => {
        const body: ErrorResponse = { error: `no route ${request.method} ${request.url}`, code: 'CS_ERR_NOT_FOUND' };
        void reply.status(404).send(body);
      });

      const empty = (reply: FastifyReply, ok: boolean): FastifyReply => reply.status(ok ? 200 : 400).send();

      v2.get('/', async (): Promise<ServerMetadataResponse> => gateway.serverMetadata());
      v2.get('/health/live', async (_request, reply) => empty(reply, true));
      v2.get('/health/ready', async (_request, reply) => empty(reply, await gateway.serverReady()));

      const metadata = async (request: FastifyRequest<{ Params: ModelParams }>): Promise<ModelMetadataResponse> => gateway.modelMetadata(request.params.name, request.params.version);
      v2.get('/models/:name', metadata);
      v2.get('/models/:name/versions/:version', metadata);

      const ready = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<FastifyReply> => empty(reply, await gateway.modelReady(request.params.name, request.params.version));
      v2.get('/models/:name/ready', ready);
      v2.get('/models/:name/versions/:version/ready', ready);
    },
    { prefix: '/v2' },
  );
}
