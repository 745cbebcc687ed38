import { DataType, Precision, type Data, type List, type Struct, type Vector } from 'apache-arrow';
import { RequestError } from '../../errors';

/** The element arrays of the Arrow number types a BigDL request may carry, read without conversion. */
export type NumberArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;

/** Float32/64 and integers of at most 32 bits: their Arrow arrays hold plain numbers (no BigInt, no float16 bits). */
function isPlainNumber(type: DataType): boolean {
  if (DataType.isFloat(type)) return type.precision === Precision.SINGLE || type.precision === Precision.DOUBLE;
  if (DataType.isInt(type)) return type.bitWidth <= 32;
  return false;
}

/** `parts` back to back in one new array of the first part's kind (the rare case they are not one run). */
function concat(parts: readonly NumberArray[]): NumberArray {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new (parts[0]!.constructor as new (length: number) => NumberArray)(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The values of every valid row of the `List<number>` child `name` of a struct column, all rows flattened
 * together (BigDL puts each child's values in a row of its own). The result is a view of the decoded IPC
 * bytes whenever those rows' values lie back to back in one record batch, which is always so for the
 * released clients: no per-element work, no copy. Values split across batches or separated by the
 * (arbitrary) contents of null rows are copied together. Work is O(rows), not O(values).
 *
 * Returns undefined when the struct has no child `name`; throws a RequestError when it is not a list of
 * plain numbers.
 */
export function listValues(column: Vector<Struct>, name: string): NumberArray | undefined {
  const parts: NumberArray[] = [];
  let found = false;
  for (const chunk of column.data as readonly Data<Struct>[]) {
    const k = chunk.type.children.findIndex((f) => f.name === name);
    if (k < 0) continue;
    found = true;
    const list = chunk.children[k]!;
    const element = DataType.isList(list.type) ? (list.type as List).valueType : undefined;
    if (!element || !isPlainNumber(element)) throw new RequestError('CS_ERR_BAD_REQUEST', `tensor struct child "${name}" is ${String(list.type)}, not a list of numbers`);
    const offsets = (list as Data<List>).valueOffsets;
    const values = list.children[0]!.values as NumberArray;
    // A forged row count beyond the offsets sent would loop over rows that are not there.
    if (list.length > offsets.length - 1) throw new RequestError('CS_ERR_BAD_REQUEST', `tensor struct child "${name}" declares ${list.length} rows but carries ${Math.max(offsets.length - 1, 0)}`);
    // Runs of consecutive rows whose value ranges touch: one view per run.
    let runStart = 0;
    let runEnd = 0;
    for (let row = 0; row < list.length; row++) {
      if (!list.getValid(row)) continue;
      const begin = offsets[row]!;
      const end = offsets[row + 1]!;
      if (end <= begin) continue;
      if (begin !== runEnd || runEnd === runStart) {
        if (runEnd > runStart) parts.push(values.subarray(runStart, runEnd));
        runStart = begin;
      }
      runEnd = end;
    }
    if (runEnd > runStart) parts.push(values.subarray(runStart, runEnd));
  }
  if (!found) return undefined;
  if (parts.length === 0) return new Float32Array(0);
  return parts.length === 1 ? parts[0]! : concat(parts);
}
