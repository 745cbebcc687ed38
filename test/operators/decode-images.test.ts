import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { firstValueFrom, from, toArray } from 'rxjs';
import { decodeImages, ImageBufferPool, isEncodedImage } from '../../src/operators/decode-images';
import { imageToTensor, type ImageToTensorOptions } from '../../src/operators/image-to-tensor';
import { imageInput } from '../../src/client/tensor-input';
import { errorResult, type InferenceRequest, type InferenceResult } from '../../src/tensor/records';
import { tensorFrom, toTypedArray, type Tensor } from '../../src/tensor/tensor';
import type { TensorInfo } from '../../src/runtime/model-runtime';
import { topologySchema } from '../../src/topology/schema';

/** A w × h RGB image with a gradient per channel and some texture, so resizing and cropping show. */
function pixels(w: number, h: number, seed = 0): Buffer {
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      out[o] = (x * 255) / Math.max(1, w - 1);
      out[o + 1] = (y * 255) / Math.max(1, h - 1);
      out[o + 2] = 128 + 100 * Math.sin((x + 3 * y + seed) / 5);
    }
  }
  return out;
}

function encode(w: number, h: number, format: 'png' | 'jpeg' | 'webp', seed = 0): Promise<Buffer> {
  const img = sharp(pixels(w, h, seed), { raw: { width: w, height: h, channels: 3 } });
  return (format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 90 }) : img.webp({ quality: 90 })).toBuffer();
}

const ref = { split: 's', entryId: '1-0' };
function request(inputs: Record<string, Tensor>, uri = 'u'): InferenceRequest {
  return { kind: 'request', uri, ref: { split: 's', entryId: uri }, replyTo: undefined, inputs: new Map(Object.entries(inputs)), receivedAt: 0 };
}

const floats = (t: Tensor): number[] => [...(toTypedArray(t) as Float32Array)];
const cnnInputs: TensorInfo[] = [{ name: 'input', dtype: 'float32', shape: ['batch', 3, 8, 8] }];
const options: ImageToTensorOptions = { width: 8, height: 8, layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

async function run(items: (InferenceRequest | InferenceResult)[], modelInputs = cnnInputs, image = options, concurrency?: number, buffers?: ImageBufferPool): Promise<(InferenceRequest | InferenceResult)[]> {
  return firstValueFrom(from(items).pipe(decodeImages({ modelInputs, image, concurrency, buffers }), toArray()));
}

describe('imageToTensor', () => {
  test('PNG is lossless: NCHW RGB values are exactly (v × scale − mean) / std of the pixels', async () => {
    const raw = pixels(5, 4);
    const t = await imageToTensor(await encode(5, 4, 'png'), { layout: 'NCHW', channelOrder: 'RGB', scale: 0.5, mean: [1, 2, 3], std: [2, 4, 8] });
    assert.deepEqual([...t.shape], [1, 3, 4, 5]);
    const v = floats(t);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 20; p++) assert.equal(v[c * 20 + p], Math.fround((raw[p * 3 + c]! * 0.5 - [1, 2, 3][c]!) / [2, 4, 8][c]!));
  });

  test('NHWC and BGR reorder the same values', async () => {
    const png = await encode(5, 4, 'png');
    const nchw = floats(await imageToTensor(png, { layout: 'NCHW', channelOrder: 'RGB' }));
    const t = await imageToTensor(png, { layout: 'NHWC', channelOrder: 'BGR' });
    assert.deepEqual([...t.shape], [1, 4, 5, 3]);
    const nhwc = floats(t);
    for (let p = 0; p < 20; p++) for (let c = 0; c < 3; c++) assert.equal(nhwc[p * 3 + c], nchw[(2 - c) * 20 + p]);
  });

  test('a centre crop keeps the middle of the resized image', async () => {
    const png = await encode(10, 8, 'png');
    const full = floats(await imageToTensor(png, { layout: 'NCHW', channelOrder: 'RGB' }));
    const t = await imageToTensor(png, { crop: { width: 4, height: 2 }, layout: 'NCHW', channelOrder: 'RGB' });
    assert.deepEqual([...t.shape], [1, 3, 2, 4]);
    const v = floats(t);
    // left = (10 − 4) / 2 = 3, top = (8 − 2) / 2 = 3
    for (let c = 0; c < 3; c++) for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) assert.equal(v[c * 8 + y * 4 + x], full[c * 80 + (y + 3) * 10 + (x + 3)]);
    const resized = await imageToTensor(png, { width: 6, height: 6, crop: { width: 2, height: 2 }, layout: 'NCHW', channelOrder: 'RGB' });
    assert.deepEqual([...resized.shape], [1, 3, 2, 2]);
    await assert.rejects(imageToTensor(png, { crop: { width: 11, height: 2 }, layout: 'NCHW', channelOrder: 'RGB' }), (e: { code?: string }) => e.code === 'CS_ERR_BAD_REQUEST');
  });
});

describe('decodeImages', () => {
  test('JPEG, PNG and WebP requests become the tensors imageToTensor makes; corrupt bytes fail that request alone', async () => {
    const jpeg = await encode(20, 12, 'jpeg');
    const png = await encode(9, 9, 'png');
    const webp = await encode(16, 16, 'webp');
    const corrupt = Buffer.concat([jpeg.subarray(0, 40), Buffer.alloc(200, 0x55)]);
    const earlier = errorResult({ uri: 'earlier', ref, replyTo: undefined, receivedAt: 0 }, { code: 'CS_ERR_BAD_REQUEST', message: 'malformed' });
    const out = await run([request({ input: imageInput(jpeg) }, 'jpeg'), request({ input: imageInput(corrupt) }, 'corrupt'), earlier, request({ input: imageInput(png) }, 'png'), request({ input: imageInput(webp) }, 'webp')]);
    const byUri = new Map(out.map((x) => [x.uri, x]));
    assert.equal(out.length, 5);
    for (const [uri, bytes] of [['jpeg', jpeg], ['png', png], ['webp', webp]] as const) {
      const got = byUri.get(uri)!;
      assert.equal(got.kind, 'request', uri);
      if (got.kind !== 'request') continue;
      const t = got.inputs.get('input')!;
      assert.equal(t.dtype, 'float32');
      assert.deepEqual([...t.shape], [1, 3, 8, 8]);
      assert.deepEqual(floats(t), floats(await imageToTensor(bytes, options)), uri);
    }
    const bad = byUri.get('corrupt')!;
    assert.equal(bad.kind, 'result');
    assert.equal(bad.kind === 'result' && bad.error?.code, 'CS_ERR_BAD_REQUEST');
    assert.match((bad as InferenceResult).error!.message, /input input: cannot decode image/);
    assert.equal(byUri.get('earlier'), earlier, 'results pass through untouched');
  });

  test('other tensors of a request pass as they are; images feed inputs by name or position and take their dtype', async () => {
    const png = await encode(8, 8, 'png');
    const offset = tensorFrom(Float32Array.from([1, 2, 3]), [1, 3]);
    const inputs: TensorInfo[] = [
      { name: 'image', dtype: 'uint8', shape: ['batch', 8, 8, 3] },
      { name: 'offset', dtype: 'float32', shape: ['batch', 3] },
    ];
    const nhwc: ImageToTensorOptions = { width: 8, height: 8, layout: 'NHWC', channelOrder: 'RGB' };
    // Decodes run concurrently, so requests may come out in either order: find each by its uri.
    const out = (await run([request({ offset, image: imageInput(png) }, 'named'), request({ a: imageInput(png), b: offset }, 'positional')], inputs, nhwc)) as InferenceRequest[];
    const byName = out.find((x) => x.uri === 'named');
    const byPosition = out.find((x) => x.uri === 'positional');
    const expected = [...pixels(8, 8)];
    for (const [req, imageName, offsetName] of [[byName!, 'image', 'offset'], [byPosition!, 'a', 'b']] as const) {
      const image = req.inputs.get(imageName)!;
      assert.equal(image.dtype, 'uint8', `${req.uri}: cast to the model input's dtype`);
      assert.deepEqual([...image.shape], [1, 8, 8, 3]);
      assert.deepEqual([...image.data], expected, `${req.uri}: PNG pixels, NHWC`);
      assert.equal(req.inputs.get(offsetName), offset, `${req.uri}: the float tensor is untouched`);
    }
  });

  test('a uint8 vector feeding a uint8 vector input is data, not an image; requests without images pass at once', async () => {
    const bytes = tensorFrom(Uint8Array.from([1, 2, 3]), [3]);
    const vectorModel: TensorInfo[] = [{ name: 'ids', dtype: 'uint8', shape: [-1] }];
    assert.equal(isEncodedImage(bytes, vectorModel[0]), false);
    assert.equal(isEncodedImage(bytes, cnnInputs[0]), true);
    assert.equal(isEncodedImage(tensorFrom(new Uint8Array(12), [1, 12]), undefined), false, 'rank 2 is a tensor');
    const req = request({ ids: bytes });
    const [out] = await run([req], vectorModel);
    assert.equal(out, req);
  });

  test('with a small concurrency every request still comes out, decoded', async () => {
    const images = await Promise.all(Array.from({ length: 12 }, (_, i) => encode(64, 64, 'jpeg', i)));
    const out = await run(images.map((b, i) => request({ input: imageInput(b) }, `r${i}`)), cnnInputs, options, 3);
    assert.deepEqual(out.map((x) => x.uri).sort(), images.map((_, i) => `r${i}`).sort());
    for (const x of out) assert.equal(x.kind, 'request');
  });
});

describe('ImageBufferPool', () => {
  test('decoded images live in pooled arrays held per request until released, then reused', async () => {
    const pool = new ImageBufferPool();
    const png = await encode(8, 8, 'png');
    const corrupt = Buffer.from('not an image');
    const out = await run([request({ input: imageInput(png) }, 'a'), request({ input: imageInput(png), other: imageInput(corrupt) }, 'bad'), request({ input: imageInput(png) }, 'b')], cnnInputs, options, 8, pool);
    assert.equal(pool.requests, 2, 'a and b hold their arrays; the failed request gave its back at once');
    const a = out.find((x) => x.uri === 'a') as InferenceRequest;
    const aData = a.inputs.get('input')!.data;
    assert.deepEqual(floats(a.inputs.get('input')!), floats(await imageToTensor(png, options)));
    pool.release(a.ref);
    pool.release(a.ref); // a second release is a no-op
    assert.equal(pool.requests, 1);
    const [c] = (await run([request({ input: imageInput(await encode(8, 8, 'jpeg')) }, 'c')], cnnInputs, options, 8, pool)) as InferenceRequest[];
    assert.equal(c!.inputs.get('input')!.data.buffer, aData.buffer, "c reuses a's array");
    assert.equal(pool.requests, 2);
  });
});

describe('image decode in the topology schema', () => {
  const base = { name: 'img', source: { type: 'redis' }, model: { path: '/m.onnx' } };
  test('crop must fit in the resized size; argmax is a postprocess', () => {
    const ok = topologySchema.parse({ ...base, decode: { type: 'image', width: 256, height: 256, crop: { width: 224, height: 224 }, concurrency: 4 }, postprocess: 'argmax' });
    assert.equal(ok.decode.type === 'image' && ok.decode.crop?.width, 224);
    assert.deepEqual(ok.postprocess, { type: 'argmax' });
    const bad = topologySchema.safeParse({ ...base, decode: { type: 'image', width: 200, height: 256, crop: { width: 224, height: 224 } } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')), ['decode.crop']);
  });
});
