import { DataType, RecordBatchReader, type RecordBatch, type Vector } from 'apache-arrow';
import { RequestError } from '../../errors';
import { elementCount, tensorFrom, type Tensor } from '../../tensor/tensor';

/**
 * One input of a BigDL Cluster Serving request (reference/bigdl-protocol.md), in the client's argument
 * order: inputs are fed to the model by position, field names carry no meaning.
 */
export type BigdlInput =
  | { readonly kind: 'tensor'; readonly tensor: Tensor }
  | { readonly kind: 'image'; readonly bytes: Buffer }
  | { readonly kind: 'strings'; readonly values: readonly string[] };

const IMAGE_MAGIC: readonly (readonly number[])[] = [
  [0xff, 0xd8, 0xff], // JPEG
  [0x89, 0x50, 0x4e, 0x47], // PNG
  [0x52, 0x49, 0x46, 0x46], // RIFF (WebP)
];

function isImage(bytes: Buffer): boolean {
  return IMAGE_MAGIC.some((magic) => magic.every((b, i) => bytes[i] === b));
}

/** Every value of a List<…> child of the tensor struct, all rows flattened together (read by name). */
function flatten(column: Vector | null, what: string): number[] {
  if (!column) throw new RequestError('CS_ERR_BAD_REQUEST', `tensor struct has no "${what}" child`);
  const out: number[] = [];
  for (let row = 0; row < column.length; row++) {
    const list = column.get(row) as Iterable<number> | null;
    if (list) for (const v of list) out.push(Number(v));
  }
  return out;
}

function tensorOf(name: string, struct: Vector): Tensor {
  const data = flatten(struct.getChild('data'), 'data');
  const shape = flatten(struct.getChild('shape'), 'shape');
  const indices = flatten(struct.getChild('indiceData'), 'indiceData');
  const indicesShape = flatten(struct.getChild('indiceShape'), 'indiceShape');
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: invalid shape [${shape.join(', ')}]`);
  const size = elementCount(shape);
  if (indicesShape.length === 0) {
    if (data.length !== size) throw new RequestError('CS_ERR_BAD_REQUEST', `input ${name}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    return tensorFrom(Float32Array.from(data), shape);
  }
  // Sparse: indices laid out one row per dimension, [ndim][nnz].
  const [ndim, nnz] = indicesShape as [number, number];
  if (ndim !== shape.length || nnz !== data.length || indices.length !== ndim * nnz) {
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
