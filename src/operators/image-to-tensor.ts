import sharp, { type OutputInfo } from 'sharp';
import { RequestError } from '../errors';
import { tensorFrom, type Tensor } from '../tensor/tensor';

export interface ImageToTensorOptions {
  /** Resize to this size (both or neither); keep the decoded size when absent. */
  readonly width?: number;
  readonly height?: number;
  readonly layout: 'NCHW' | 'NHWC';
  readonly channelOrder: 'RGB' | 'BGR';
  /** Multiplies each 0–255 value first (e.g. 1/255). @default 1 */
  readonly scale?: number;
  /** Per channel (in channelOrder), subtracted after scaling. */
  readonly mean?: readonly number[];
  /** Per channel (in channelOrder), divides after the mean. */
  readonly std?: readonly number[];
}

/**
 * Decodes JPEG, PNG or WebP bytes into a float32 tensor [1, 3, H, W] (NCHW) or [1, H, W, 3] (NHWC) with
 * libvips (sharp), whose work runs on libuv's thread pool: decoding overlaps inference instead of
 * blocking the event loop. Undecodable bytes are a RequestError for that request alone.
 */
export async function imageToTensor(bytes: Uint8Array, options: ImageToTensorOptions): Promise<Tensor> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let pipeline = sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
    if (options.width !== undefined && options.height !== undefined) pipeline = pipeline.resize(options.width, options.height, { fit: 'fill' });
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new RequestError('CS_ERR_BAD_REQUEST', `cannot decode image: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { width, height, channels } = raw.info;
  if (channels !== 3) throw new RequestError('CS_ERR_BAD_REQUEST', `image has ${channels} channels after decoding, expected 3`);
  const scale = options.scale ?? 1;
  const order = options.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const out = new Float32Array(width * height * 3);
  const plane = width * height;
  const src = raw.data;
  for (let c = 0; c < 3; c++) {
    const from = order[c]!;
    const mean = options.mean?.[c] ?? 0;
    const std = options.std?.[c] ?? 1;
    for (let p = 0; p < plane; p++) {
      const v = (src[p * 3 + from]! * scale - mean) / std;
      if (options.layout === 'NCHW') out[c * plane + p] = v;
      else out[p * 3 + c] = v;
    }
  }
  return tensorFrom(out, options.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3]);
}
