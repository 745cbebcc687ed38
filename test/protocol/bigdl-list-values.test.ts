import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Field, Float32, Float64, Int32, List, RecordBatchReader, Struct, Utf8, makeData, makeVector, vectorFromArray, type Data, type Vector } from 'apache-arrow';
import { listValues } from '../../src/protocol/bigdl/list-values';
import { RequestError } from '../../src/errors';
import { packageRoot } from '../../src/package-root';

/** A one-child struct column whose child is `list` (made by hand, to reach layouts the released clients never write). */
function structOf(name: string, list: Data): Vector<Struct> {
  return makeVector(makeData({ type: new Struct([new Field(name, list.type, true)]), length: list.length, nullCount: 0, children: [list] }));
}

describe('listValues: the values of a List<number> struct child, all rows together', () => {
  test('the released client\'s dense tensor is read as a view of the decoded bytes, not copied', () => {
    const b64 = readFileSync(join(packageRoot(), 'test', 'fixtures', 'bigdl', 'dense.b64'), 'utf8');
    const bytes = Buffer.from(b64, 'base64');
    const [batch] = [...RecordBatchReader.from(bytes)];
    const column = batch!.getChildAt(0) as Vector<Struct>;
    const data = listValues(column, 'data');
    assert.ok(data instanceof Float32Array);
    assert.deepEqual([...data], [0, 0.25, 0.5, 0.75, 1, 1.25]);
    assert.equal(data.buffer, bytes.buffer, 'a view of the decoded request');
    assert.deepEqual([...listValues(column, 'shape')!], [2, 3]);
    assert.deepEqual([...listValues(column, 'indiceData')!], []);
    assert.equal(listValues(column, 'nope'), undefined);
  });

  test('values under a null row are skipped, even when its offsets span values', () => {
    const child = makeData({ type: new Float32(), length: 6, data: Float32Array.from([1, 2, 99, 99, 99, 3]) });
    const list = makeData({ type: new List(new Field('item', new Float32(), true)), length: 3, nullCount: 1, nullBitmap: Uint8Array.from([0b101]), valueOffsets: Int32Array.from([0, 2, 5, 6]), child });
    const values = listValues(structOf('data', list), 'data');
    assert.deepEqual([...values!], [1, 2, 3]);
  });

  test('float64 and int32 lists keep their element type', () => {
    const f64 = makeData({ type: new List(new Field('item', new Float64(), true)), length: 1, nullCount: 0, valueOffsets: Int32Array.from([0, 2]), child: makeData({ type: new Float64(), length: 2, data: Float64Array.from([0.5, 1e300]) }) });
    const values = listValues(structOf('data', f64), 'data');
    assert.ok(values instanceof Float64Array);
    assert.deepEqual([...values], [0.5, 1e300]);
    const i32 = makeData({ type: new List(new Field('item', new Int32(), true)), length: 2, nullCount: 0, valueOffsets: Int32Array.from([0, 1, 3]), child: makeData({ type: new Int32(), length: 3, data: Int32Array.from([4, 5, 6]) }) });
    assert.deepEqual([...listValues(structOf('shape', i32), 'shape')!], [4, 5, 6]);
  });

  test('a child that is not a list of numbers is a RequestError', () => {
    const strings = vectorFromArray(['a', 'b'], new Utf8()).data[0]!;
    assert.throws(() => listValues(structOf('data', strings), 'data'), (e: unknown) => e instanceof RequestError && e.code === 'CS_ERR_BAD_REQUEST' && /not a list of numbers/.test(e.message));
  });
});
