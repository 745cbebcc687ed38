import { DataType, RecordBatchReader, type RecordBatch, type Struct, type Vector } from 'apache-arrow';
import { RequestError } from '../../errors';
import { elementCount, tensorFrom, type Tensor } from '../../tensor/tensor';
import { listValues } from './list-values';
import { boundFlatbufferVectors } from './bound-flatbuffer-vectors';

boundFlatbufferVectors();

/**
 * One input of a BigDL Cluster Serving request (reference/bigdl-protocol.md), in the client's argument
 * order: inputs are fed to the model by position, field names carry no meaning.
 */
export type BigdlInput =
  | { readonly kind: 'tensor'; readonly tensor: Tensor }
  | { readonly kind: 'image'; readonly bytes: Buffer }
  | { readonly kind: 'strings'; readonly values: readonly string[] };

/** The most elements a sparse input may expand to (64 MiB of float32). */
export const MAX_SPARSE_DENSE_ELEMENTS = 2 ** 24;

const IMAGE_MAGIC: readonly (readonly number[])[] = [
  [0xff, 0xd8, 0xff], // JPEG
  [0x89, 0x50, 0x4e, 0x47], // PNG
  [0x52, 0x49, 0x46, 0x46], // RIFF (WebP)
];

function isImage(bytes: Buffer): boolean {
  return IMAGE_MAGIC.some((magic) => magic.every((b, i) => bytes[i] === b));
}

/** A struct child as float32 values: the decoded bytes themselves when they already are float32 (the released clients). */
function float32Values(struct: Vector<Struct>, what: string): Float32Array {
  const values = listValues(struct, what);
  if (!values) throw new RequestError('CS_ERR_BAD_REQUEST', `tensor struct has no "${what}" child`);
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** A (short) struct child as plain numbers: shapes and sparse index shapes. */
function numbers(struct: Vector<Struct>, what: string): number[] {
  const values = listValues(struct, what);
  if (!values) throw new RequestError('CS_ERR_BAD_REQUEST', `tensor struct has no "${what}" child`);
  return Array.from(values);
}

function tensorOf(name: string, struct: Vector<Struct>): Tensor {
  const data = float32Values(struct, 'data');
  const shape = numbers(struct, 'shape');
  const indicesShape = numbers(struct, 'indiceShape');
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: invalid shape [${shape.join(', ')}]`);
  const size = elementCount(shape);
  if (indicesShape.length === 0) {
    if (data.length !== size) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    // A view of the decoded request: the batch copy in the infer step is the one copy these values make.
    return tensorFrom(data, shape);
  }
  // Sparse: indices laid out one row per dimension, [ndim][nnz].
  const indices = listValues(struct, 'indiceData');
  if (!indices) throw new RequestError('CS_ERR_BAD_REQUEST', 'tensor struct has no "indiceData" child');
  // The dense tensor is allocated from the shape alone: a forged one must not allocate gigabytes.
  if (size > MAX_SPARSE_DENSE_ELEMENTS) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: sparse shape [${shape.join(', ')}] exceeds ${MAX_SPARSE_DENSE_ELEMENTS} elements`);
  const [ndim, nnz] = indicesShape as [number, number];
  if (indicesShape.length !== 2 || ndim !== shape.length || nnz !== data.length || indices.length !== ndim * nnz) {
    throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: sparse indices [${indicesShape.join(', ')}] do not match ${data.length} values and shape [${shape.join(', ')}]`);
  }
  const dense = new Float32Array(size);
  for (let k = 0; k < nnz; k++) {
    let offset = 0;
    for (let d = 0; d < ndim; d++) {
      const at = indices[d * nnz + k]!;
      if (!Number.isInteger(at) || at < 0 || at >= shape[d]!) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: sparse index ${at} out of range for dimension ${d}`);
      offset = offset * shape[d]! + at;
    }
    dense[offset] = data[k]!;
  }
  return tensorFrom(dense, shape);
}

/**
 * Decodes a request's `data` field: standard base64 of an Arrow IPC stream with one record batch, one
 * field per input. Struct fields are dense or sparse tensors (float32, children read by name); Utf8
 * fields are a base64 image when they decode to JPEG/PNG/WebP bytes, else `|`-joined strings.
 */
export function decodeBigdlRequest(data: string | Uint8Array): BigdlInput[] {
  const text = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  let batch: RecordBatch | undefined;
  try {
    const reader = RecordBatchReader.from(Buffer.from(text, 'base64'));
    for (const b of reader) {
      batch = b;
      break;
    }
  } catch (err) {
    throw new RequestError('CS_ERR_BAD_REQUEST', `malformed BigDL request: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!batch || batch.schema.fields.length === 0) throw new RequestError('CS_ERR_BAD_REQUEST', 'malformed BigDL request: no record batch or no fields');
  return batch.schema.fields.map((field, i): BigdlInput => {
    const column = batch!.getChildAt(i);
    if (!column) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${field.name}: missing column`);
    if (DataType.isStruct(field.type)) return { kind: 'tensor', tensor: tensorOf(field.name, column) };
    if (DataType.isUtf8(field.type)) {
      const value = String(column.get(0) ?? '');
      const bytes = Buffer.from(value, 'base64');
      if (bytes.length > 0 && isImage(bytes)) return { kind: 'image', bytes };
      return { kind: 'strings', values: value.split('|') };
    }
    throw new RequestError('CS_ERR_BAD_REQUEST', `input ${field.name}: unsupported Arrow type ${String(field.type)}`);
  });
}
