import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, Float32, Int32, List, Struct, Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import { decodeBigdlRequest, MAX_SPARSE_DENSE_ELEMENTS } from '../../src/protocol/bigdl/bigdl-request';
import { RequestError } from '../../src/errors';
import { encodeBigdlTensorRequest } from '../fuzz/bigdl-request-encoder';

/** Found by the fuzz suite (test/fuzz/stream-doors.redis.test.ts): one flipped byte, seeds 1216867569 and 7. */
function flipped(flips: readonly [number, number][], cut?: number): string {
  const valid = Buffer.from(encodeBigdlTensorRequest(Array.from({ length: 16 }, (_, k) => Math.cos(k)), [1, 16]), 'base64');
  for (const [at, value] of flips) valid[at] = value;
  return valid.subarray(0, cut ?? valid.length).toString('base64');
}

const isBadRequest = (err: unknown): boolean => err instanceof RequestError && err.code === 'CS_ERR_BAD_REQUEST';

describe('BigDL requests with forged lengths', () => {
  test('the encoder the tests use writes a request that decodes', () => {
    const [input] = decodeBigdlRequest(flipped([]));
    assert.equal(input?.kind, 'tensor');
    if (input?.kind === 'tensor') assert.deepEqual([...input.tensor.shape], [1, 16]);
  });

  test('a schema vector length forged to billions is refused, not decoded until memory runs out', () => {
    assert.throws(() => decodeBigdlRequest(flipped([[1005, 195], [1143, 237], [46, 100], [826, 244]], 883)), isBadRequest);
  });

  test('a list row count forged beyond the offsets sent is refused, not looped over', () => {
    // Node 3 (the `data` list) claims 9,895,937 rows; the body carries offsets for one.
    assert.throws(() => decodeBigdlRequest(flipped([[978, 151]])), (err: unknown) => isBadRequest(err) && /declares \d+ rows but carries 1/.test((err as Error).message));
  });

  test('a sparse shape that would expand past the bound is refused before allocating', () => {
    const type = new Struct([
      new Field('indiceData', new List(new Field('item', new Int32(), true)), true),
      new Field('indiceShape', new List(new Field('item', new Int32(), true)), true),
      new Field('data', new List(new Field('item', new Float32(), true)), true),
      new Field('shape', new List(new Field('item', new Int32(), true)), true),
    ]);
    const column = vectorFromArray([{ indiceData: [0, 0], indiceShape: [2, 1], data: [1], shape: [50_000, 50_000] }], type);
    const b64 = Buffer.from(tableToIPC(new Table({ s: column }), 'stream')).toString('base64');
    assert.ok(50_000 * 50_000 > MAX_SPARSE_DENSE_ELEMENTS);
    assert.throws(() => decodeBigdlRequest(b64), (err: unknown) => isBadRequest(err) && /exceeds/.test((err as Error).message));
  });
});
