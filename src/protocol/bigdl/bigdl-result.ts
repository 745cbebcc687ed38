import { Field, Float32, Int32, RecordBatch, RecordBatchStreamWriter, Schema, Struct, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import { elementCount, toValues, type Tensor } from '../../tensor/tensor';

/** The value BigDL clients read as "this request failed". */
export const BIGDL_FAILURE = 'NaN';

const SCHEMA = new Schema([new Field('data', new Float32(), false), new Field('shape', new Int32(), true)]);

function batchOf(t: Tensor): RecordBatch {
  const n = elementCount(t.shape);
  const values = Float32Array.from(toValues(t) as ArrayLike<number | bigint>, (v) => Number(v));
  // Column `shape` holds the dimensions in its first rows, null-padded to the row count (the client
  // drops nulls and zeros and reshapes `data`, so the row count must stay the element count). A tensor
  // with more dimensions than elements (e.g. [1, 1]) loses size-1 dimensions until its shape fits.
  const dims = [...t.shape];
  for (let i = 0; dims.length > Math.max(n, 1) && i < dims.length; ) {
    if (dims[i] === 1) dims.splice(i, 1);
    else i++;
  }
  const rows = Math.max(n, 1);
  const data = new Float32Array(rows);
  data.set(values.subarray(0, n));
  const shape = vectorFromArray(Array.from({ length: rows }, (_, i) => (i < dims.length ? dims[i]! : null)), new Int32());
  const dataVector = makeVector(data);
  const struct = makeData({ type: new Struct(SCHEMA.fields), length: rows, nullCount: 0, children: [dataVector.data[0]!, shape.data[0]!] });
  return new RecordBatch(SCHEMA, struct);
}

/**
 * Encodes outputs the way the original server wrote them: base64 of an Arrow IPC stream with one record
 * batch per output, each with column 0 `data` (Float32, one row per element) and column 1 `shape`
 * (Int32, dimension sizes then nulls). Outputs of any dtype are sent as float32, as BigDL did.
 */
export function encodeBigdlResult(outputs: readonly Tensor[]): string {
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, SCHEMA);
  for (const t of outputs) writer.write(batchOf(t));
  writer.finish();
  return Buffer.from(writer.toUint8Array(true)).toString('base64');
}
