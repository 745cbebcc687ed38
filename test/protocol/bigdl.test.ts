import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { decodeBigdlRequest } from '../../src/protocol/bigdl/bigdl-request';
import { encodeBigdlResult } from '../../src/protocol/bigdl/bigdl-result';
import { imageToTensor } from '../../src/operators/image-to-tensor';
import { tensorFrom, toTypedArray } from '../../src/tensor/tensor';
import { RequestError } from '../../src/errors';
import { packageRoot } from '../../src/package-root';

/** Requests recorded from the released bigdl-serving 2.4.0 client (test/fixtures/bigdl/record.py). */
function fixture(name: string): { b64: string; expected: Record<string, unknown> } {
  const dir = join(packageRoot(), 'test', 'fixtures', 'bigdl');
  return { b64: readFileSync(join(dir, `${name}.b64`), 'utf8'), expected: JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Record<string, unknown> };
}

describe('BigDL request decoding (fixtures from the real client)', () => {
  for (const name of ['dense', 'several', 'sparse']) {
    test(`${name} tensors decode to the client's arrays, in argument order`, () => {
      const { b64, expected } = fixture(name);
      const inputs = decodeBigdlRequest(b64);
      const want = expected.inputs as { shape: number[]; data: number[] }[];
      assert.equal(inputs.length, want.length);
      inputs.forEach((input, i) => {
        assert.equal(input.kind, 'tensor');
        if (input.kind !== 'tensor') return;
        assert.deepEqual([...input.tensor.shape], want[i]!.shape);
        assert.deepEqual([...(toTypedArray(input.tensor) as Float32Array)], want[i]!.data.map((v) => Math.fround(v)));
      });
    });
  }

  test('an image decodes as BGR, raw 0–255, CHW with a batch dimension', async () => {
    const { b64, expected } = fixture('image');
    const [input] = decodeBigdlRequest(b64);
    assert.equal(input?.kind, 'image');
    if (input?.kind !== 'image') return;
    const t = await imageToTensor(input.bytes, { layout: 'NCHW', channelOrder: 'BGR' });
    const [h, w] = expected.image_bgr_hwc as number[];
    assert.deepEqual([...t.shape], [1, 3, h, w]);
    const values = toTypedArray(t) as Float32Array;
    const bgr = expected.bgr as number[];
    for (let c = 0; c < 3; c++) {
      const mean = values.subarray(c * h! * w!, (c + 1) * h! * w!).reduce((a, b) => a + b, 0) / (h! * w!);
      assert.ok(Math.abs(mean - bgr[c]!) < 4, `channel ${c}: ${mean} vs ${bgr[c]} (JPEG is lossy)`);
    }
  });

  test('a list of strings is split on |', () => {
    const [input] = decodeBigdlRequest(fixture('strings').b64);
    assert.deepEqual(input, { kind: 'strings', values: ['hello', 'serving', 'world'] });
  });

  test('garbage is a RequestError, not a crash', () => {
    for (const bad of ['', 'bm90IGFycm93', '!!!', Buffer.from([1, 2, 3]).toString('base64')]) {
      assert.throws(() => decodeBigdlRequest(bad), (e: unknown) => e instanceof RequestError && e.code === 'CS_ERR_BAD_REQUEST', bad);
    }
  });

  test('corrupt image bytes are a RequestError', async () => {
    const jpegHeaderOnly = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3]);
    await assert.rejects(imageToTensor(jpegHeaderOnly, { layout: 'NCHW', channelOrder: 'BGR' }), (e: unknown) => e instanceof RequestError);
  });
});

describe('BigDL result encoding', () => {
  test('one record batch per output: column 0 data (Float32), column 1 shape (Int32, null-padded)', () => {
    const b64 = encodeBigdlResult([tensorFrom(Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 2, 3]), tensorFrom(Int32Array.from([7, 8]), [2])]);
    const batches = [...RecordBatchReader.from(Buffer.from(b64, 'base64'))];
    assert.equal(batches.length, 2);
    const [first, second] = batches;
    assert.deepEqual(first!.schema.fields.map((f) => `${f.name}:${String(f.type)}`), ['data:Float32', 'shape:Int32']);
    assert.deepEqual([...first!.getChildAt(0)!.toArray()], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...first!.getChildAt(1)!].slice(0, 4), [1, 2, 3, null]);
    assert.deepEqual([...second!.getChildAt(0)!.toArray()], [7, 8]);
    assert.deepEqual([...second!.getChildAt(1)!], [2, null]);
  });

  test('a tensor with more dimensions than elements keeps a readable shape', () => {
    const [batch] = [...RecordBatchReader.from(Buffer.from(encodeBigdlResult([tensorFrom(Float32Array.from([7]), [1, 1])]), 'base64'))];
    assert.equal(batch!.numRows, 1);
    assert.deepEqual([...batch!.getChildAt(1)!], [1]);
  });
});
