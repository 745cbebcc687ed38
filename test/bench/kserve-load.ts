import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Pool } from 'undici';
import { packageRoot } from '../../src/package-root';

/**
 * Closed-loop load against the KServe v2 / Open Inference Protocol endpoints of a JobManager: `inFlight`
 * callers each send one request, wait for its answer and send the next, for `seconds`; every answer is
 * checked (status 200 / OK and the expected output). HTTP goes over keep-alive connections (an undici
 * Pool of `inFlight` connections); gRPC over one channel (HTTP/2), as a grpc-js client.
 *
 * @example
 * const r = await kserveJsonLoad({ url: 'http://127.0.0.1:8081', model: 'tiny', input: 'input', row: new Float32Array(16), inFlight: 64, seconds: 5 });
 * // { rps: 8500, p50Ms: 7.1, p99Ms: 15.2, requests: 42500 }
 */

/** What every load function takes. */
export interface KServeLoadOptions {
  /** The model (job) name. */
  readonly model: string;
  /** The model's input name. */
  readonly input: string;
  /** One FP32 row; each request sends it as shape [1, row.length]. */
  readonly row: Float32Array;
  /** Requests in flight at once. */
  readonly inFlight: number;
  /** How long to measure, after a warm-up of `inFlight` × 4 requests. */
  readonly seconds: number;
  /** The output expected in every answer. @default 'output' */
  readonly output?: string;
}

export interface HttpLoadOptions extends KServeLoadOptions {
  /** The JobManager's REST base URL, e.g. http://127.0.0.1:8081. */
  readonly url: string;
}

export interface GrpcLoadOptions extends KServeLoadOptions {
  /** host:port of the JobManager's gRPC endpoint. */
  readonly address: string;
}

export interface LoadResult {
  /** Answered requests per second over the measured window. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests answered in the measured window. */
  readonly requests: number;
}

/** Sends one request and resolves once it is answered and checked. */
type Call = () => Promise<void>;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Runs `call` closed-loop from `inFlight` callers: a warm-up, then `seconds` measured. */
async function closedLoop(call: Call, inFlight: number, seconds: number): Promise<LoadResult> {
  const warm = inFlight * 4;
  let started = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (started++ < warm) await call();
    }),
  );
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let t = performance.now(); t < end; ) {
        await call();
        const now = performance.now();
        latencies.push(now - t);
        t = now;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { rps: latencies.length / elapsed, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), requests: latencies.length };
}

function inferPath(model: string): string {
  return `/v2/models/${encodeURIComponent(model)}/infer`;
}

async function httpLoad(options: HttpLoadOptions, request: { body: Buffer; headers: Record<string, string> }, check: (status: number, headers: Record<string, string | string[] | undefined>, body: Buffer) => void): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.inFlight, pipelining: 1, keepAliveTimeout: 30_000 });
  const path = inferPath(options.model);
  const call: Call = async () => {
    const res = await pool.request({ method: 'POST', path, body: request.body, headers: request.headers });
    const body = Buffer.from(await res.body.arrayBuffer());
    check(res.statusCode, res.headers, body);
  };
  try {
    return await closedLoop(call, options.inFlight, options.seconds);
  } finally {
    await pool.close();
  }
}

/** KServe v2 HTTP infer with JSON bodies both ways. */
export function kserveJsonLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const output = options.output ?? 'output';
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: options.input, datatype: 'FP32', shape: [1, options.row.length], data: [...options.row] }] }));
  return httpLoad(options, { body, headers: { 'content-type': 'application/json' } }, (status, _headers, res) => {
    if (status !== 200) throw new Error(`HTTP ${status}: ${res.toString()}`);
    const parsed = JSON.parse(res.toString()) as { outputs?: { name: string; data?: unknown[] }[] };
    if (!parsed.outputs?.some((o) => o.name === output && Array.isArray(o.data))) throw new Error(`no output "${output}" in ${res.toString().slice(0, 200)}`);
  });
}

/** KServe v2 HTTP infer with the binary tensor data extension both ways (as tritonclient sends it). */
export function kserveBinaryLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const output = options.output ?? 'output';
  const json = Buffer.from(
    JSON.stringify({
      inputs: [{ name: options.input, datatype: 'FP32', shape: [1, options.row.length], parameters: { binary_data_size: options.row.byteLength } }],
      outputs: [{ name: output, parameters: { binary_data: true } }],
    }),
  );
  const body = Buffer.concat([json, Buffer.from(options.row.buffer, options.row.byteOffset, options.row.byteLength)]);
  const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.byteLength) };
  return httpLoad(options, { body, headers }, (status, resHeaders, res) => {
    if (status !== 200) throw new Error(`HTTP ${status}: ${res.toString()}`);
    const length = Number(resHeaders['inference-header-content-length']);
    if (!(length > 0 && length < res.byteLength)) throw new Error(`the answer has no binary output: ${res.toString().slice(0, 200)}`);
  });
}

/** The KServe v2 gRPC service definition, from the proto the server serves. */
function grpcService(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(join(packageRoot(), 'jobmanager', 'grpc', 'grpc_service.proto'), { keepCase: true, longs: Number, defaults: false, arrays: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  return pkg.inference.GRPCInferenceService.service;
}

interface InferReply {
  outputs: { name: string }[];
  raw_output_contents: Buffer[];
}

/**
 * KServe v2 gRPC ModelInfer with `raw_input_contents`, over one channel. The request is the same every
 * time, so it is serialised once (a client that sends one tensor shape can do the same); replies are
 * deserialised and checked in full. channelz (grpc-js's per-call statistics) is off, as on the server.
 */
export async function kserveGrpcLoad(options: GrpcLoadOptions): Promise<LoadResult> {
  const infer = grpcService().ModelInfer!;
  const request = infer.requestSerialize({
    model_name: options.model,
    inputs: [{ name: options.input, datatype: 'FP32', shape: [1, options.row.length] }],
    raw_input_contents: [Buffer.from(options.row.buffer, options.row.byteOffset, options.row.byteLength)],
  });
  const Client = grpc.makeGenericClientConstructor({ ModelInfer: { ...infer, requestSerialize: (encoded: Buffer) => encoded } }, 'GRPCInferenceService');
  const client = new Client(options.address, grpc.credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
  const output = options.output ?? 'output';
  const method = client.ModelInfer!.bind(client) as (req: Buffer, cb: (err: grpc.ServiceError | null, reply?: InferReply) => void) => void;
  const call: Call = () =>
    new Promise<void>((resolve, reject) => {
      method(request, (err, reply) => {
        if (err) reject(err);
        else if (!reply?.outputs.some((o) => o.name === output) || reply.raw_output_contents.length !== reply.outputs.length) reject(new Error(`no raw output "${output}"`));
        else resolve();
      });
    });
  try {
    return await closedLoop(call, options.inFlight, options.seconds);
  } finally {
    client.close();
  }
}
