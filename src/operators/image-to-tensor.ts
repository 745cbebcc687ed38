import sharp, { type OutputInfo } from 'sharp';
import { RequestError } from '../errors';
import { tensorFrom, type Tensor } from '../tensor/tensor';

export interface ImageToTensorOptions {
  /** Resize to this size (both or neither; the aspect ratio is not kept); keep the decoded size when absent. */
  readonly width?: number;
  readonly height?: number;
  /**
   * After the resize, keep only this centre region (e.g. resize 256 × 256, crop 224 × 224). It must fit
   * in the resized (or decoded) image: a larger crop is a RequestError for that image.
   */
  readonly crop?: { readonly width: number; readonly height: number };
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
 * Per output channel, the float value of each of the 256 byte values: `(v × scale − mean) / std`, computed
 * once per call in float64 and rounded to float32 as the element would be, so the per-pixel loop is one
 * table read (the same bits as computing it per pixel).
 */
function lookupTables(options: ImageToTensorOptions): Float32Array[] {
  const scale = options.scale ?? 1;
  return [0, 1, 2].map((c) => {
    const mean = options.mean?.[c] ?? 0;
    const std = options.std?.[c] ?? 1;
    return Float32Array.from({ length: 256 }, (_, v) => (v * scale - mean) / std);
  });
}

/**
 * Decodes JPEG, PNG or WebP bytes into a float32 tensor [1, 3, H, W] (NCHW) or [1, H, W, 3] (NHWC) with
 * libvips (sharp): resize (optional), centre crop (optional), channel order, scale, mean/std. The decode,
 * resize and crop run on libuv's thread pool, so decoding overlaps inference instead of blocking the event
 * loop; only the final byte → float pass runs on the calling thread. Undecodable bytes are a RequestError
 * (CS_ERR_BAD_REQUEST) for that request alone.
 *
 * `allocate(length)` supplies the float32 array the tensor is written into (a fresh one by default): a
 * pooled array, or a slice of a batch buffer, saves allocating 600 KB of external memory per 224 × 224
 * image, which V8 answers with frequent full garbage collections. It is called only once decoding succeeded.
 *
 * @example
 * const t = await imageToTensor(jpegBytes, { width: 224, height: 224, layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255 });
 * t.shape; // [1, 3, 224, 224]
 */
export async function imageToTensor(bytes: Uint8Array, options: ImageToTensorOptions, allocate: (length: number) => Float32Array = (length) => new Float32Array(length)): Promise<Tensor> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let pipeline = sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
    let size: { width: number; height: number } | undefined;
    if (options.width !== undefined && options.height !== undefined) {
      pipeline = pipeline.resize(options.width, options.height, { fit: 'fill' });
      size = { width: options.width, height: options.height };
    }
    if (options.crop) {
      if (!size) {
        const meta = await sharp(bytes).metadata();
        // EXIF orientation 5–8 swaps width and height (sharp rotates by it only when asked to).
        size = { width: meta.width, height: meta.height };
      }
      const { width, height } = options.crop;
      if (width > size.width || height > size.height) {
        throw new RequestError('CS_ERR_BAD_REQUEST', `crop ${width}×${height} does not fit in the ${size.width}×${size.height} image`);
      }
      // Called after resize(), so sharp extracts from the resized image.
      pipeline = pipeline.extract({ left: Math.floor((size.width - width) / 2), top: Math.floor((size.height - height) / 2), width, height });
    }
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError('CS_ERR_BAD_REQUEST', `cannot decode image: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { width, height, channels } = raw.info;
  if (channels !== 3) throw new RequestError('CS_ERR_BAD_REQUEST', `image has ${channels} channels after decoding, expected 3`);
  const tables = lookupTables(options);
  const order = options.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const out = allocate(width * height * 3);
  if (out.length !== width * height * 3) throw new RangeError(`allocate(${width * height * 3}) returned ${out.length} elements`);
  const plane = width * height;
  const src = raw.data;
  for (let c = 0; c < 3; c++) {
    const from = order[c]!;
    const table = tables[c]!;
    if (options.layout === 'NCHW') {
      const base = c * plane;
      for (let p = 0, s = from; p < plane; p++, s += 3) out[base + p] = table[src[s]!]!;
    } else {
      for (let p = 0, s = from, o = c; p < plane; p++, s += 3, o += 3) out[o] = table[src[s]!]!;
    }
  }
  return tensorFrom(out, options.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3]);
}
