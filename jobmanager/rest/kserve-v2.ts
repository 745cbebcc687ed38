import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClusterServingError, type ErrorCode } from '../../src/errors';
import type { Logger } from '../../src/logging/logger';
import { decodeInferRequest } from '../../src/protocol/kserve-v2/decode-infer-request';
import { encodeInferResponse } from '../../src/protocol/kserve-v2/encode-infer-response';
import { INFERENCE_HEADER_CONTENT_LENGTH, type ErrorResponse, type ModelMetadataResponse, type ServerMetadataResponse } from '../../src/protocol/kserve-v2/messages';
import type { InferenceGateway } from '../inference-gateway';

/** Largest inference request body (after decompression): as a topology's default `decode.maxRequestBytes`. */
export const INFER_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

const STATUS: Partial<Record<ErrorCode, number>> = {
  CS_ERR_BAD_REQUEST: 400,
  CS_ERR_SHAPE: 400,
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

interface ModelParams {
  name: string;
  version?: string;
}

/** The request body as bytes, decompressed when sent with `Content-Encoding: gzip` or `deflate`. */
async function requestBody(request: FastifyRequest): Promise<Buffer> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const options = { maxOutputLength: INFER_BODY_LIMIT_BYTES };
  try {
    if (encoding === 'identity' || encoding === '') return body;
    if (encoding === 'gzip') return await gunzipAsync(body, options);
    if (encoding === 'deflate') return await inflateAsync(body, options);
  } catch (err) {
    throw new ClusterServingError('CS_ERR_BAD_REQUEST', `cannot decompress the ${encoding} request body (or it exceeds ${INFER_BODY_LIMIT_BYTES} bytes): ${err instanceof Error ? err.message : String(err)}`);
  }
  throw new ClusterServingError('CS_ERR_BAD_REQUEST', `Content-Encoding ${encoding} is not supported (gzip, deflate or none)`);
}

function headerLength(request: FastifyRequest): number | undefined {
  const value = request.headers[INFERENCE_HEADER_CONTENT_LENGTH];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `Inference-Header-Content-Length must be a byte count, got "${String(text)}"`);
  return Number(text);
}

/**
 * The KServe / Open Inference Protocol v2 REST API on the JobManager (SPEC §5; see
 * src/protocol/kserve-v2/messages.ts for the paths and bodies). A model is a job, by its name.
 * Inference requests are checked against the model metadata, then sent into the job's stream as native
 * requests (see {@link InferenceGateway}, shared with the gRPC API); the binary tensor data extension is
 * supported both ways, and gzip/deflate request bodies. Errors are `{"error": "...", "code": "CS_ERR_..."}`.
 */
export function registerKServeV2Routes(app: FastifyInstance, gateway: InferenceGateway, logger: Logger): void {
  void app.register(
    async (v2) => {
      // Inference bodies are JSON, or JSON followed by binary tensor data, with any content type (or none,
      // as tritonclient sends them): read them as bytes here and decode them in one place.
      v2.removeAllContentTypeParsers();
      v2.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: INFER_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));

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

      const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<FastifyReply> => {
        const req = decodeInferRequest(await requestBody(request), headerLength(request));
        const result = await gateway.infer(request.params.name, request.params.version, req);
        const encoded = encodeInferResponse({ modelName: result.modelName, modelVersion: result.modelVersion, id: req.id, outputs: result.outputs, requested: req.outputs, binaryOutput: req.binaryOutput });
        if (encoded.headerLength !== undefined) void reply.header(INFERENCE_HEADER_CONTENT_LENGTH, String(encoded.headerLength)).type('application/octet-stream');
        else void reply.type('application/json; charset=utf-8');
        return reply.send(encoded.body);
      };
      v2.post('/models/:name/infer', infer);
      v2.post('/models/:name/versions/:version/infer', infer);
    },
    { prefix: '/v2' },
  );
}
