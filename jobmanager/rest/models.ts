import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ModelUploadResponse } from '../../src/cluster-api/dto';
import { isSha256 } from '../../src/cluster-api/model-files';
import { ClusterServingError } from '../../src/errors';
import type { ControlPlane } from '../control-plane';

interface ModelParams {
  sha256: string;
}

function checkedHash(value: string): string {
  if (!isSha256(value)) throw new ClusterServingError('CS_ERR_NOT_FOUND', 'models are named by their SHA-256 in lower-case hex: /models/<sha256>');
  return value;
}

/**
 * The models resource, by content hash: `PUT /models/:sha256` stores an uploaded model (raw bytes,
 * `application/octet-stream`, streamed to disk; refused with 400 unless they hash to `:sha256`), and
 * `GET /models/:sha256` (and HEAD) serves a held one. Only the JobManager's model store is ever served:
 * a name that is not a SHA-256 is 404 before any file is looked at.
 */
export function registerModelRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.get<{ Params: ModelParams }>('/models/:sha256', async (request, reply) => {
    const model = await control.modelByHash(checkedHash(request.params.sha256));
    return reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(model.bytes))
      .header('etag', `"${model.sha256}"`)
      .send(request.method === 'HEAD' ? undefined : createReadStream(model.path));
  });

  void app.register(async (scope) => {
    // The body stays a stream: models can be large, and they go to disk as they arrive.
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    scope.put<{ Params: ModelParams }>('/models/:sha256', async (request): Promise<ModelUploadResponse> => {
      const sha256 = checkedHash(request.params.sha256);
      const body = request.body as Readable | undefined;
      if (body === undefined || typeof (body as { pipe?: unknown }).pipe !== 'function') {
        throw new ClusterServingError('CS_ERR_BAD_REQUEST', 'upload a model as the raw bytes of the request body (content-type: application/octet-stream)');
      }
      return control.uploadModel(sha256, body);
    });
  });
}
