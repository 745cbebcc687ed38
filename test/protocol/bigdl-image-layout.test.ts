import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, of } from 'rxjs';
import { decodeBigdl, imageLayoutFor } from '../../src/operators/decode-bigdl';
import type { TensorInfo } from '../../src/runtime/model-runtime';
import type { ImageToTensorOptions } from '../../src/operators/image-to-tensor';
import { toTypedArray } from '../../src/tensor/tensor';
import { packageRoot } from '../../src/package-root';

/** An 8 × 6 (h × w) image of constant BGR (10, 128, 250), recorded from the released client (test/fixtures/bigdl). */
const IMAGE_REQUEST = readFileSync(join(packageRoot(), 'test', 'fixtures', 'bigdl', 'image.b64'));

async function decodeImageFor(input: TensorInfo, image?: Partial<ImageToTensorOptions>): Promise<{ shape: readonly number[]; values: Float32Array }> {
  const entry = { split: 's', entryId: '1-0', uri: 'img', data: new Uint8Array(IMAGE_REQUEST) };
  const out = await lastValueFrom(of(entry).pipe(decodeBigdl({ modelInputs: [input], convention: '0.11', maxRequestBytes: 1 << 20, ...(image ? { image } : {}) })));
  assert.equal(out.kind, 'request', JSON.stringify(out));
  if (out.kind !== 'request') throw new Error('unreachable');
  const t = out.inputs.get(input.name)!;
  return { shape: t.shape, values: toTypedArray(t) as Float32Array };
}

/** Mean of each of the 3 channels, reading `values` in `layout`. */
function channelMeans(values: Float32Array, layout: 'NCHW' | 'NHWC'): number[] {
  const plane = values.length / 3;
  return [0, 1, 2].map((c) => {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += layout === 'NCHW' ? values[c * plane + i]! : values[i * 3 + c]!;
    return sum / plane;
  });
}

function near(got: number[], want: number[]): boolean {
  return got.every((v, i) => Math.abs(v - want[i]!) < 4); // JPEG is lossy
}

describe('BigDL images take the layout of the model input when the topology names none', () => {
  test('imageLayoutFor: [n, h, w, 3] is channels-last, [n, 3, h, w] and anything else channels-first', () => {
    const info = (shape: (number | string)[]): TensorInfo => ({ name: 'x', dtype: 'float32', shape });
    assert.equal(imageLayoutFor(info(['batch', 224, 224, 3])), 'NHWC');
    assert.equal(imageLayoutFor(info(['batch', 'h', 'w', 3])), 'NHWC');
    assert.equal(imageLayoutFor(info(['batch', 3, 224, 224])), 'NCHW');
    assert.equal(imageLayoutFor(info(['batch', 3, 'h', 3])), 'NCHW');
    assert.equal(imageLayoutFor(info(['batch', 16])), 'NCHW');
  });

  test('an NHWC model input gets the image channels-last, BGR', async () => {
    const { shape, values } = await decodeImageFor({ name: 'image', dtype: 'float32', shape: ['batch', 'h', 'w', 3] });
    assert.deepEqual([...shape], [1, 8, 6, 3]);
    const means = channelMeans(values, 'NHWC');
    assert.ok(near(means, [10, 128, 250]), `channel means ${means.join(', ')}`);
  });

  test('an NCHW model input gets it channels-first, BGR', async () => {
    const { shape, values } = await decodeImageFor({ name: 'image', dtype: 'float32', shape: ['batch', 3, 'h', 'w'] });
    assert.deepEqual([...shape], [1, 3, 8, 6]);
    const means = channelMeans(values, 'NCHW');
    assert.ok(near(means, [10, 128, 250]), `channel means ${means.join(', ')}`);
  });

  test('a layout the topology names wins over the model input', async () => {
    const { shape } = await decodeImageFor({ name: 'image', dtype: 'float32', shape: ['batch', 'h', 'w', 3] }, { layout: 'NCHW' });
    assert.deepEqual([...shape], [1, 3, 8, 6]);
  });
});
