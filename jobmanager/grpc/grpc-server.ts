import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ClusterServingError } from '../../src/errors';
import type { Logger } from '../../src/logging/logger';
import { packageRoot } from '../../src/package-root';
import { decodeGrpcInferRequest } from '../../src/protocol/kserve-v2/decode-grpc-infer-request';
import { encodeGrpcInferResponse } from '../../src/protocol/kserve-v2/encode-grpc-infer-response';
import type { GrpcModelInferRequest, GrpcModelInferResponse, GrpcModelRequest } from '../../src/protocol/kserve-v2/grpc-messages';
import type { ModelMetadataResponse, ServerMetadataResponse } from '../../src/protocol/kserve-v2/messages';
import { AccessToken } from '../access-token';
import type { InferenceGateway } from '../inference-gateway';
import type { TlsIdentity } from '../read-tls-identity';
import { INFER_BODY_LIMIT_BYTES } from '../rest/kserve-v2-errors';
import { toGrpcError } from './grpc-status';

/** The service definition, kept in the repository beside this file (read at run time, as the package ships it). */
export const GRPC_PROTO_PATH = join(packageRoot(), 'jobmanager', 'grpc', 'grpc_service.proto');

/** How @grpc/proto-loader turns messages into objects (the shapes of src/protocol/kserve-v2/grpc-messages.ts). */
export const GRPC_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, arrays: true, oneofs: true };

/** How long close() lets calls in flight finish before cutting them off, in ms. */
const SHUTDOWN_GRACE_MS = 5000;

/** The `inference.GRPCInferenceService` definition, loaded once. */
let serviceDefinition: grpc.ServiceDefinition | undefined;
function inferenceService(): grpc.ServiceDefinition {
  if (!serviceDefinition) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(GRPC_PROTO_PATH, GRPC_LOADER_OPTIONS)) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    serviceDefinition = pkg.inference.GRPCInferenceService.service;
  }
  return serviceDefinition;
}

/** Milliseconds left until a call's deadline; undefined when it has none. */
function deadlineMs(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(1, at - Date.now()) : undefined;
}

/**
 * The KServe v2 / Open Inference Protocol gRPC API on the JobManager (`inference.GRPCInferenceService`:
 * ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer), served by @grpc/grpc-js
 * from grpc_service.proto. Every call goes through the same {@link InferenceGateway} as the HTTP API:
 * the same model resolution, input checks and job stream, and the same errors as gRPC statuses
 * (grpc-status.ts). Inputs come as `raw_input_contents` or typed `contents`; outputs go back as
 * `raw_output_contents`. A call's gRPC deadline caps its timeout. With a `token`, every call but ServerLive
 * and ServerReady needs metadata `authorization: Bearer <token>` (UNAUTHENTICATED otherwise); with `tls`,
 * it serves TLS with the same certificate and key as the HTTP API.
 *
 * @example
 * const grpcServer = await KServeGrpcServer.start(gateway, { host: '127.0.0.1', port: 8001, logger });
 * grpcServer.address; // '127.0.0.1:8001'
 * await grpcServer.close();
 */
export class KServeGrpcServer {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: grpc.Server,
    private readonly listener: NetServer,
    /** host:port clients dial (a wildcard host shown as 127.0.0.1). */
    readonly address: string,
    readonly port: number,
  ) {}

  /** Binds host:port (0 picks a free port) and serves; CS_ERR_CONFIG when the port cannot be bound. */
  static async start(
    gateway: InferenceGateway,
    options: { readonly host: string; readonly port: number; readonly logger: Logger; readonly token?: AccessToken | undefined; readonly tls?: TlsIdentity | undefined },
  ): Promise<KServeGrpcServer> {
    const { logger, token } = options;
    // channelz (grpc-js's per-call statistics for its admin service, which we do not serve) costs per call.
    const server = new grpc.Server({ 'grpc.max_receive_message_length': INFER_BODY_LIMIT_BYTES, 'grpc.max_send_message_length': -1, 'grpc.enable_channelz': 0 });
    const unary =
      <Req, Res>(method: string, handle: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> => {
        const checked = token !== undefined && !AccessToken.isOpenGrpcMethod(method) ? token : undefined;
        return (call, callback) => {
          const fail = (err: unknown): void => {
            const error = toGrpcError(err);
            if (error.code === grpc.status.INTERNAL || error.code === grpc.status.UNAVAILABLE) logger.error({ err, method }, 'jobmanager.kserve.grpc_error');
            else logger.debug({ method, code: error.code, message: error.details }, 'jobmanager.kserve.grpc_rejected');
            callback(error);
          };
          if (checked) {
            try {
              checked.check(call.metadata.get('authorization').map((v) => (typeof v === 'string' ? v : v.toString('utf8'))));
            } catch (err) {
              fail(err);
              return;
            }
          }
          handle(call.request, call).then((response) => callback(null, response), fail);
        };
      };
    server.addService(inferenceService(), {
      ServerLive: unary<object, { live: boolean }>('ServerLive', async () => ({ live: true })),
      ServerReady: unary<object, { ready: boolean }>('ServerReady', async () => ({ ready: await gateway.serverReady() })),
      ModelReady: unary<GrpcModelRequest, { ready: boolean }>('ModelReady', async (req) => ({ ready: await gateway.modelReady(req.name ?? '', req.version) })),
      ServerMetadata: unary<object, ServerMetadataResponse>('ServerMetadata', async () => gateway.serverMetadata()),
      ModelMetadata: unary<GrpcModelRequest, ModelMetadataResponse>('ModelMetadata', async (req) => gateway.modelMetadata(req.name ?? '', req.version)),
      ModelInfer: unary<GrpcModelInferRequest, GrpcModelInferResponse>('ModelInfer', async (message, call) => {
        const req = decodeGrpcInferRequest(message);
        const result = await gateway.infer(message.model_name ?? '', message.model_version, req, deadlineMs(call));
        return encodeGrpcInferResponse({ modelName: result.modelName, modelVersion: result.modelVersion, id: req.id, outputs: result.outputs, requested: req.outputs });
      }),
    });
    // We own the listening socket (grpc-js's connection injector serves what it accepts) to turn Nagle's
    // algorithm off: grpc-js's own listener leaves it on, and a reply written as HEADERS, DATA and trailers
    // then waits for the client's delayed ACK (tens of ms at one call in flight).
    const credentials = options.tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }], false) : grpc.ServerCredentials.createInsecure();
    const injector = server.createConnectionInjector(credentials);
    const listener = createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host: options.host, port: options.port }, () => {
        listener.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      server.forceShutdown();
      const code = (err as { code?: string }).code;
      const reason = code === 'EADDRINUSE' ? 'the port is in use (choose another with --grpc-port / CS_JOBMANAGER_GRPC_PORT)' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine (--host / CS_JOBMANAGER_HOST)' : err instanceof Error ? err.message : String(err);
      throw new ClusterServingError('CS_ERR_CONFIG', `cannot serve gRPC on ${options.host}:${options.port}: ${reason}`, { cause: err });
    });
    const port = (listener.address() as AddressInfo).port;
    const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
    return new KServeGrpcServer(server, listener, `${shownHost}:${port}`, port);
  }

  /** Stops taking calls; calls in flight get SHUTDOWN_GRACE_MS to finish, then are cut off. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.listener.close();
      const force = setTimeout(() => this.server.forceShutdown(), SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    return this.closing;
  }
}
