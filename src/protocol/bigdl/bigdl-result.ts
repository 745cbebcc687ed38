import { Field, Float32, Int32, RecordBatch, RecordBatchStreamWriter, Schema, Struct, makeData } from 'apache-arrow';
import { elementCount, toTypedArray, toValues, type Tensor } from '../../tensor/tensor';

/** The value BigDL clients read as "this request failed". */
export const BIGDL_FAILURE = 'NaN';

const SCHEMA = new Schema([new Field('data', new Float32(), false), new Field('shape', new Int32(), true)]);

/** The tensor's values as float32: the tensor's own array when it is float32, else converted (BigDL's wire is float32 only). */
function float32Of(t: Tensor): Float32Array {
  const values = toTypedArray(t);
  if (values instanceof Float32Array) return values;
  // toValues: float16 bits decoded to numbers.
  return Float32Array.from(toValues(t) as ArrayLike<number | bigint>, (v) => Number(v));
}

function batchOf(t: Tensor): RecordBatch {
  const n = elementCount(t.shape);
  // Column `shape` holds the dimensions in its first rows, null-padded to the row count (the client
  // drops nulls and zeros and reshapes `data`, so the row count must stay the element count). A tensor
  // with more dimensions than elements (e.g. [1, 1]) loses size-1 dimensions until its shape fits.
  const dims = [...t.shape];
  for (let i = 0; dims.length > Math.max(n, 1) && i < dims.length; ) {
    if (dims[i] === 1) dims.splice(i, 1);
    else i++;
  }
  const rows = Math.max(n, 1);
  let data = float32Of(t).subarray(0, n);
  if (data.length < rows) {
    const padded = new Float32Array(rows);
    padded.set(data);
    data = padded;
  }
  // Built from arrays, not row by row through a Builder: a 1000-class output cost ~1 ms per result that way.
  const shown = dims.slice(0, rows); // only an empty tensor ([0, 5]) still has more dimensions than rows
  const shapeValues = new Int32Array(rows);
  shapeValues.set(shown);
  const validity = new Uint8Array(Math.ceil(rows / 8));
  for (let i = 0; i < shown.length; i++) validity[i >> 3]! |= 1 << (i & 7);
  const shape = makeData({ type: new Int32(), length: rows, nullCount: rows - shown.length, nullBitmap: validity, data: shapeValues });
  const values = makeData({ type: new Float32(), length: rows, nullCount: 0, data });
  const struct = makeData({ type: new Struct(SCHEMA.fields), length: rows, nullCount: 0, children: [values, shape] });
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
