import type { DType } from '../../tensor/tensor';

/**
 * The Open Inference Protocol (KServe v2) tensor datatypes this server serves, and our dtype for each.
 * The protocol also names INT8, INT16, UINT16, UINT32, UINT64, BF16 and BYTES; requests with
 * those are refused (their names still appear in model metadata, see {@link kserveDatatypeOfOnnx}).
 * FP16 and UINT8 also feed FP32 inputs: the TaskManager converts them (see `src/tensor/wire-dtypes.ts`).
 */
const TO_DTYPE = {
  BOOL: 'bool',
  UINT8: 'uint8',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
} as const satisfies Record<string, DType>;

export type KServeDatatype = keyof typeof TO_DTYPE;

/** The served datatype names, for messages. */
export const KSERVE_DATATYPES = Object.keys(TO_DTYPE) as readonly KServeDatatype[];

const FROM_DTYPE: Readonly<Record<DType, KServeDatatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  int32: 'INT32',
  int64: 'INT64',
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
};

/** The protocol's name of one of our dtypes (`float32` → `FP32`). */
export function toKServeDatatype(dtype: DType): KServeDatatype {
  return FROM_DTYPE[dtype];
}

/** Our dtype of a protocol datatype name (`FP32` → `float32`), or undefined when not served. Names are case-sensitive. */
export function fromKServeDatatype(name: string): DType | undefined {
  return Object.prototype.hasOwnProperty.call(TO_DTYPE, name) ? TO_DTYPE[name as KServeDatatype] : undefined;
}

const FROM_ONNX: Readonly<Record<string, string>> = {
  FLOAT: 'FP32',
  DOUBLE: 'FP64',
  FLOAT16: 'FP16',
  BFLOAT16: 'BF16',
  BOOL: 'BOOL',
  UINT8: 'UINT8',
  UINT16: 'UINT16',
  UINT32: 'UINT32',
  UINT64: 'UINT64',
  INT8: 'INT8',
  INT16: 'INT16',
  INT32: 'INT32',
  INT64: 'INT64',
  STRING: 'BYTES',
};

/**
 * The protocol's datatype name for an ONNX element type name (`FLOAT` → `FP32`, `STRING` → `BYTES`),
 * for model metadata of inputs or outputs we do not serve; `UNKNOWN` for types the protocol cannot name.
 */
export function kserveDatatypeOfOnnx(elemType: string): string {
  return FROM_ONNX[elemType] ?? 'UNKNOWN';
}
