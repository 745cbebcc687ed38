/**
 * The messages of the Open Inference Protocol (KServe v2) gRPC API (`inference.GRPCInferenceService`,
 * jobmanager/grpc/grpc_service.proto) as JavaScript objects, the way @grpc/proto-loader hands them over
 * with `keepCase: true, longs: String, defaults: false, arrays: true, oneofs: true`: field names as in the
 * proto, 64-bit integers as decimal strings (numbers are accepted too), bytes as Buffers, repeated fields
 * always arrays, absent scalar fields undefined.
 */

/** A 64-bit integer field: a decimal string as decoded, or a number. */
export type GrpcInt64 = string | number;

/** One parameter value; `parameter_choice` names the field that is set. */
export interface GrpcInferParameter {
  readonly parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  readonly bool_param?: boolean;
  readonly int64_param?: GrpcInt64;
  readonly string_param?: string;
  readonly double_param?: number;
  readonly uint64_param?: GrpcInt64;
}

export type GrpcParameters = Readonly<Record<string, GrpcInferParameter>>;

/** Typed tensor elements, flat in row-major order: the field of the tensor's datatype is set. */
export interface GrpcTensorContents {
  readonly bool_contents?: readonly boolean[];
  readonly int_contents?: readonly number[];
  readonly int64_contents?: readonly GrpcInt64[];
  readonly uint_contents?: readonly number[];
  readonly uint64_contents?: readonly GrpcInt64[];
  readonly fp32_contents?: readonly number[];
  readonly fp64_contents?: readonly number[];
  readonly bytes_contents?: readonly Uint8Array[];
}

export interface GrpcInferInputTensor {
  readonly name?: string;
  readonly datatype?: string;
  readonly shape?: readonly GrpcInt64[];
  readonly parameters?: GrpcParameters;
  readonly contents?: GrpcTensorContents;
}

export interface GrpcInferRequestedOutputTensor {
  readonly name?: string;
  readonly parameters?: GrpcParameters;
}

export interface GrpcModelInferRequest {
  readonly model_name?: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: GrpcParameters;
  readonly inputs?: readonly GrpcInferInputTensor[];
  readonly outputs?: readonly GrpcInferRequestedOutputTensor[];
  /** One entry per input, in the order of `inputs`, when the inputs travel as raw bytes. */
  readonly raw_input_contents?: readonly Uint8Array[];
}

export interface GrpcInferOutputTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** What this server answers: every output's bytes in `raw_output_contents`, in the order of `outputs`. */
export interface GrpcModelInferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly outputs: readonly GrpcInferOutputTensor[];
  readonly raw_output_contents: readonly Buffer[];
}

/** ModelReady and ModelMetadata requests: a model name and an optional version ('' or absent: the only one). */
export interface GrpcModelRequest {
  readonly name?: string;
  readonly version?: string;
}
