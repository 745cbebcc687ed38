import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest } from '../../src/protocol/native/native-codec';
import { firstTensorOffset } from '../../src/protocol/native/first-tensor-offset';

describe('firstTensorOffset', () => {
  test('finds where the first tensor\'s bytes start, for any name length, rank and size', () => {
    for (const name of ['x', 'input', 'a-much-longer-input-name-'.repeat(8)]) {
      for (const shape of [[16], [1, 16], [1, 3, 224, 224], [2, 300, 1, 1, 1]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n).fill(1.5);
        const payload = encodeRequest(new Map([[name, { dtype: 'float32', shape, data: new Uint8Array(data.buffer) }]]), 'reply:key');
        const offset = firstTensorOffset(payload);
        const decoded = decodeRequest(payload).inputs.get(name)!;
        assert.equal(offset, decoded.data.byteOffset - payload.byteOffset, `${name.length} chars, [${shape.join(',')}]`);
        // Only the head is needed: the first 64 bytes are enough for short names.
        if (name.length < 20) assert.equal(firstTensorOffset(payload.subarray(0, 64)), offset);
      }
    }
  });

  test('answers undefined for a head too short or not a native request', () => {
    const payload = encodeRequest(new Map([['input', { dtype: 'float32', shape: [1, 16], data: new Uint8Array(64) }]]), undefined);
    assert.equal(firstTensorOffset(payload.subarray(0, 5)), undefined);
    assert.equal(firstTensorOffset(new Uint8Array(0)), undefined);
    assert.equal(firstTensorOffset(Buffer.from('not avro at all')), undefined);
    assert.equal(firstTensorOffset(Uint8Array.of(1, 0)), undefined, 'no inputs');
  });
});
