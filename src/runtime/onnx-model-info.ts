import { readFile } from 'node:fs/promises';
import { onnx } from 'onnx-proto';
import { ClusterServingError } from '../errors';
import type { DType } from '../tensor/tensor';
import type { TensorInfo } from './model-runtime';

/** A declared input or output of an ONNX model; symbolic or unknown dimensions are -1. */
export interface OnnxTensorInfo extends TensorInfo {
  readonly shape: readonly number[];
  /** The ONNX element type name (`FLOAT`, `INT64`, `FLOAT16`, …); `UNDEFINED` for a non-tensor value. */
  readonly elemType: string;
}

/** What an ONNX model file declares: its graph inputs (initializers excluded) and outputs. */
export interface OnnxModelInfo {
  readonly inputs: readonly OnnxTensorInfo[];
  readonly outputs: readonly OnnxTensorInfo[];
}

const DTYPE_OF_ELEM: Partial<Record<number, DType>> = {
  [onnx.TensorProto.DataType.FLOAT]: 'float32',
  [onnx.TensorProto.DataType.DOUBLE]: 'float64',
  [onnx.TensorProto.DataType.INT32]: 'int32',
  [onnx.TensorProto.DataType.INT64]: 'int64',
  [onnx.TensorProto.DataType.UINT8]: 'uint8',
  [onnx.TensorProto.DataType.BOOL]: 'bool',
  [onnx.TensorProto.DataType.FLOAT16]: 'float16',
};

/** protobufjs decodes int64 fields as numbers or Long objects. */
function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return -1;
  return typeof v === 'number' ? v : v.toNumber();
}

function tensorInfo(value: onnx.IValueInfoProto): OnnxTensorInfo {
  const name = value.name ?? '';
  const tensor = value.type?.tensorType;
  if (!tensor) return { name, dtype: undefined, shape: [], elemType: 'UNDEFINED' };
  const elem = tensor.elemType ?? 0;
  const elemType = onnx.TensorProto.DataType[elem] ?? `ELEM_${elem}`;
  // No shape at all: the rank is unknown (shown as []); a dimension without a value is symbolic (-1).
  const shape = (tensor.shape?.dim ?? []).map((d) => Math.max(-1, toNumber(d.dimValue)));
  return { name, dtype: DTYPE_OF_ELEM[elem], shape, elemType };
}

/**
 * Reads the declared inputs and outputs of an ONNX model from its bytes, by decoding the protobuf
 * (no inference session is created). Graph inputs that are initializers (weights, in models before IR
 * version 4) are not inputs.
 *
 * @throws ClusterServingError CS_ERR_MODEL_LOAD when the bytes are not an ONNX model with a graph.
 * @example
 * const { inputs } = decodeOnnxModelInfo(readFileSync('models/tiny.onnx'));
 * inputs[0]; // { name: 'input', dtype: 'float32', shape: [-1, 16], elemType: 'FLOAT' }
 */
export function decodeOnnxModelInfo(bytes: Uint8Array, shownAs = 'model'): OnnxModelInfo {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ClusterServingError('CS_ERR_MODEL_LOAD', `${shownAs} is not an ONNX model: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const graph = model.graph;
  if (!graph || (graph.output ?? []).length === 0) throw new ClusterServingError('CS_ERR_MODEL_LOAD', `${shownAs} is not an ONNX model: it has no graph outputs`);
  const weights = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  return {
    inputs: (graph.input ?? []).filter((v) => !weights.has(v.name ?? '')).map(tensorInfo),
    outputs: (graph.output ?? []).map(tensorInfo),
  };
}

/**
 * Reads the declared inputs and outputs of the ONNX model file at `path` (see {@link decodeOnnxModelInfo}).
 *
 * @throws ClusterServingError CS_ERR_MODEL_LOAD when the file cannot be read or is not an ONNX model.
 * @example
 * const { inputs, outputs } = await readOnnxModelInfo('/srv/models/tiny.onnx');
 */
export async function readOnnxModelInfo(path: string): Promise<OnnxModelInfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : err instanceof Error ? err.message : String(err);
    throw new ClusterServingError('CS_ERR_MODEL_LOAD', `cannot read model file ${path}: ${reason}`, { cause: err });
  }
  return decodeOnnxModelInfo(bytes, `model file ${path}`);
}
