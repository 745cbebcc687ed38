import { Field, Float32, Int32, List, Struct, Table, tableToIPC, vectorFromArray } from 'apache-arrow';

/** The struct the BigDL clients write per tensor input (reference/bigdl-protocol.md). */
const TENSOR = new Struct([
  new Field('indiceData', new List(new Field('item', new Int32(), true)), true),
  new Field('indiceShape', new List(new Field('item', new Int32(), true)), true),
  new Field('data', new List(new Field('item', new Float32(), true)), true),
  new Field('shape', new List(new Field('item', new Int32(), true)), true),
]);

/**
 * A BigDL request's `data` field for one dense float32 tensor, as the released clients encode it: base64
 * of an Arrow IPC stream with one struct column. `shape` and `values` are written as given (a fuzz case
 * may make them disagree).
 */
export function encodeBigdlTensorRequest(values: readonly number[], shape: readonly number[], name = 't'): string {
  const column = vectorFromArray([{ indiceData: [], indiceShape: [], data: [...values], shape: [...shape] }], TENSOR);
  return Buffer.from(tableToIPC(new Table({ [name]: column }), 'stream')).toString('base64');
}
