/**
 * The JSON objects of the Open Inference Protocol (KServe v2) REST API, as this server sends them.
 * Field names are the protocol's (snake_case where it uses it).
 *
 *   GET  /v2                          → ServerMetadataResponse
 *   GET  /v2/health/live              → 200 (live) — empty body
 *   GET  /v2/health/ready             → 200 (ready) / 400 (not ready) — empty body
 *   GET  /v2/models/{name}            → ModelMetadataResponse
 *   GET  /v2/models/{name}/ready      → 200 / 400 (known, not ready) / 404 (unknown) — empty body on 200/400
 *   POST /v2/models/{name}/infer      InferRequest JSON (+ binary tensor data) → InferResponse
 * (each `/v2/models/{name}/…` path also as `/v2/models/{name}/versions/1/…`). Errors: ErrorResponse.
 */

/** One input or output in model metadata; `-1` marks a dimension of any size. */
export interface MetadataTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

export interface ServerMetadataResponse {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

export interface ModelMetadataResponse {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly MetadataTensor[];
  readonly outputs: readonly MetadataTensor[];
}

/** One output of an inference response: `data` in row-major order, or its bytes after the JSON (binary extension). */
export interface InferResponseOutput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data?: readonly (number | boolean)[];
  readonly parameters?: { readonly binary_data_size: number };
}

export interface InferResponse {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly outputs: readonly InferResponseOutput[];
}

/** Every error: HTTP 4xx/5xx with this body. `code` is ours (a CS_ERR_* code), an addition to the protocol's `error`. */
export interface ErrorResponse {
  readonly error: string;
  readonly code?: string;
}

/** The HTTP header giving the JSON part's length when binary tensor data follows it. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** Extensions listed in server metadata. */
export const SERVER_EXTENSIONS = ['binary_tensor_data'] as const;
