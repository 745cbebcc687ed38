import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { ClusterServingError } from '../../src/errors';
import type { Logger } from '../../src/logging/logger';
import { decodeInferRequest } from '../../src/protocol/kserve-v2/decode-infer-request';
import { encodeInferResponse } from '../../src/protocol/kserve-v2/encode-infer-response';
import { INFERENCE_HEADER_CONTENT_LENGTH } from '../../src/protocol/kserve-v2/messages';
import type { InferenceGateway } from '../inference-gateway';
import type { AccessToken } from '../access-token';
import { INFER_BODY_LIMIT_BYTES, toKServeError } from './kserve-v2-errors';
import { WWW_AUTHENTICATE } from './require-token';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** `POST /v2/models/{name}/infer` and `/v2/models/{name}/versions/{version}/infer`, with an optional query. */
const INFER_PATH = /^\/v2\/models\/([^/?#]+)(?:\/versions\/([^/?#]+))?\/infer(?:[?#].*)?$/;

/** The request body as bytes, decompressed when sent with `Content-Encoding: gzip` or `deflate`. */
async function decompress(body: Buffer, headers: IncomingHttpHeaders): Promise<Buffer> {
  const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase().trim();
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

function headerLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers[INFERENCE_HEADER_CONTENT_LENGTH];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `Inference-Header-Content-Length must be a byte count, got "${String(text)}"`);
  return Number(text);
}

/** An HTTP error with its status, for a body that cannot be read. */
class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The whole request body (one chunk as it came, several concatenated), at most INFER_BODY_LIMIT_BYTES. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > INFER_BODY_LIMIT_BYTES) return Promise.reject(new BodyError(413, `the request body (${declared} bytes) exceeds ${INFER_BODY_LIMIT_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > INFER_BODY_LIMIT_BYTES) {
        req.removeAllListeners('data');
        reject(new BodyError(413, `the request body exceeds ${INFER_BODY_LIMIT_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes)));
    req.on('error', reject);
  });
}

/**
 * The KServe v2 HTTP inference route, served straight from Node's HTTP server ahead of fastify: returns
 * true when it takes the request (a POST to an infer path), false to leave it to fastify (every other
 * route, including the rest of /v2). Same request decoding, gateway call, response encoding and error
 * bodies as a fastify route would have; what it skips is fastify's per-request machinery (routing,
 * hooks, content-type parsing, reply serialisation), which cost about as much CPU per request as Node's
 * HTTP handling itself in a measurement of the two (see ARCHITECTURE.md, decision log). With a `token`,
 * a request without it is refused (401) before its body is read.
 */
export function kserveInferHandler(gateway: InferenceGateway, logger: Logger, options: { readonly token?: AccessToken | undefined } = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { token } = options;
  const send = (res: ServerResponse, status: number, body: Buffer, contentType: string, headerBytes?: number): void => {
    const headers: Record<string, string | number> = { 'content-type': contentType, 'content-length': body.byteLength };
    if (headerBytes !== undefined) headers[INFERENCE_HEADER_CONTENT_LENGTH] = headerBytes;
    res.writeHead(status, headers);
    res.end(body);
  };
  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    const { status, body } = err instanceof BodyError ? { status: err.status, body: { error: err.message, code: 'CS_ERR_BAD_REQUEST' } } : toKServeError(err);
    if (status >= 500) logger.error({ err, method: req.method, url: req.url }, 'jobmanager.kserve.error');
    else logger.debug({ code: body.code, method: req.method, url: req.url, message: body.error }, 'jobmanager.kserve.rejected');
    if (res.headersSent) return void res.destroy();
    // A body left unread would be taken for the next request on this connection.
    if (!req.complete) res.setHeader('connection', 'close');
    if (status === 401) res.setHeader('www-authenticate', WWW_AUTHENTICATE);
    send(res, status, Buffer.from(JSON.stringify(body)), 'application/json; charset=utf-8');
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined): Promise<void> => {
    token?.check(req.headers.authorization); // before the body is read
    const body = await decompress(await readBody(req), req.headers);
    const request = decodeInferRequest(body, headerLength(req.headers));
    const result = await gateway.infer(name, version, request);
    const encoded = encodeInferResponse({ modelName: result.modelName, modelVersion: result.modelVersion, id: request.id, outputs: result.outputs, requested: request.outputs, binaryOutput: request.binaryOutput });
    if (encoded.headerLength !== undefined) send(res, 200, encoded.body, 'application/octet-stream', encoded.headerLength);
    else send(res, 200, encoded.body, 'application/json; charset=utf-8');
  };
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (!url.startsWith('/v2/models/')) return false;
    const match = INFER_PATH.exec(url);
    if (!match) return false;
    let name: string;
    let version: string | undefined;
    try {
      name = decodeURIComponent(match[1]!);
      version = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    } catch {
      return false; // fastify answers a malformed path
    }
    handle(req, res, name, version).catch((err: unknown) => fail(req, res, err));
    return true;
  };
}
