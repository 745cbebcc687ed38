import { z } from 'zod';

/**
 * The topology schema (SPEC §4): one model underneath both the YAML and the TypeScript form.
 * Every object is strict: an unknown field is a problem, not ignored. Defaults live here, next to the
 * fields they belong to; units are in the names.
 */

const redisSource = z.strictObject({
  type: z.literal('redis'),
  /** Redis URL of the stream; defaults to the cluster's Redis (`--redis` / CS_REDIS_URL). */
  address: z.string().min(1).optional(),
  /** Stream key; defaults to the job name. */
  stream: z.string().min(1).optional(),
  /** Number of stream partitions (splits). */
  partitions: z.number().int().min(1).max(1024).default(1),
  protocol: z.enum(['native', 'bigdl']).default('native'),
  /** Entries read per XREADGROUP call. */
  readCount: z.number().int().min(1).max(10000).default(512),
  /**
   * Deliveries after which an entry is a poison request: it is parked in the job's dead-letter stream
   * with an error result (CS_ERR_POISON) instead of being processed again.
   */
  maxDeliveries: z.number().int().min(1).max(1000).default(3),
  /**
   * With `protocol: bigdl`, which client generation's batch dimension to follow: `2.x` clients send
   * tensors already batched and get outputs with the batch dimension; `0.11` clients send tensors
   * without it (a leading 1 is added) and get outputs without it.
   */
  bigdlConvention: z.enum(['2.x', '0.11']).default('2.x'),
});

const kafkaSource = z.strictObject({
  type: z.literal('kafka'),
  brokers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1),
  partitions: z.number().int().min(1).max(1024).default(1),
  protocol: z.enum(['native', 'bigdl']).default('native'),
});

export const sourceSchema = z.discriminatedUnion('type', [redisSource, kafkaSource]);

/**
 * How a uint8 request tensor becomes a float32 model input: `(x · scale − mean[c]) / std[c]`, where c is the
 * element's index along `channelAxis` (e.g. raw 0–255 pixels → ImageNet-normalised floats). One mean and
 * std apply to every element. Checked per request: the tensor's channelAxis dimension must have as many
 * entries as mean/std (else CS_ERR_SHAPE for that request).
 */
export const normalizeSchema = z
  .strictObject({
    /** Multiplies each 0–255 value before the mean is subtracted (0.00392156862745098 for 1/255). */
    scale: z.number().positive().finite().default(1),
    /** Per channel (or one for all), subtracted after scaling. */
    mean: z.array(z.number().finite()).min(1).max(4096).default([0]),
    /** Per channel (or one for all), divides after the mean. */
    std: z.array(z.number().positive().finite()).min(1).max(4096).default([1]),
    /** The dimension mean and std index: 1 for NCHW, 3 or -1 for NHWC. */
    channelAxis: z.number().int().min(-8).max(7).default(1),
  })
  .superRefine((n, ctx) => {
    if (n.mean.length !== n.std.length && n.mean.length !== 1 && n.std.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['std'], message: `mean has ${n.mean.length} values and std ${n.std.length}: give one per channel, or one for all channels` });
    }
  });

/**
 * Tensors as sent. A float32 model input also takes float16 tensors (half the bytes; cast exactly) and
 * uint8 tensors (a quarter; cast to 0–255, or normalised by `normalize`), converted as the batch is built.
 */
const tensorDecode = z.strictObject({
  type: z.literal('tensor'),
  /** Largest accepted request payload in bytes; larger ones get an error result. */
  maxRequestBytes: z.number().int().min(1).default(64 * 1024 * 1024),
  /** uint8 tensors sent for float32 inputs are normalised so; without it they are cast as they are (0–255). */
  normalize: normalizeSchema.optional(),
});

/**
 * Encoded images (JPEG, PNG, WebP) → a float tensor per image: decode, resize to width × height (the aspect
 * ratio is not kept), optional centre `crop`, channel order, `scale`, then `(v − mean) / std` per channel.
 * With the native protocol each image is a request tensor of dtype uint8 and rank 1 holding the encoded
 * file's bytes (the TypeScript client's `imageInput(bytes)` makes one); it becomes [1, 3, H, W] (NCHW) or
 * [1, H, W, 3] (NHWC), cast to the model input's dtype. Other tensors of the request pass as they are.
 * With `protocol: bigdl`, images are the clients' base64 image strings.
 */
const imageDecode = z
  .strictObject({
    type: z.literal('image'),
    /** Every image is resized to width × height (fit fill: the aspect ratio is not kept). */
    width: z.number().int().min(1),
    height: z.number().int().min(1),
    /**
     * After the resize, keep only the centre crop.width × crop.height region: the tensor's size (e.g. resize
     * to 256 × 256, crop 224 × 224, as torchvision's ImageNet models expect). Must fit in width × height.
     */
    crop: z.strictObject({ width: z.number().int().min(1), height: z.number().int().min(1) }).optional(),
    /** Tensor layout. @default NCHW */
    layout: z.enum(['NCHW', 'NHWC']).optional(),
    /** @default RGB for the native protocol, BGR (as the original) for `protocol: bigdl` */
    channelOrder: z.enum(['RGB', 'BGR']).optional(),
    /** Multiplies each 0–255 value before mean/std (e.g. 0.00392156862745098 for 1/255). @default 1 */
    scale: z.number().positive().optional(),
    /** Per channel, in channelOrder, subtracted after scaling. @default [0, 0, 0] */
    mean: z.array(z.number()).length(3).optional(),
    /** Per channel, in channelOrder, divides after the mean. @default [1, 1, 1] */
    std: z.array(z.number()).length(3).optional(),
    /**
     * Images decoded at once per slot. Decoding runs on libuv's thread pool (UV_THREADPOOL_SIZE, 4 by
     * default) while the model runs on its own worker threads, so decode and inference overlap.
     * @default 8
     */
    concurrency: z.number().int().min(1).max(1024).optional(),
    maxRequestBytes: z.number().int().min(1).default(64 * 1024 * 1024),
  })
  .superRefine((d, ctx) => {
    if (d.crop && (d.crop.width > d.width || d.crop.height > d.height)) {
      ctx.addIssue({ code: 'custom', path: ['crop'], message: `crop ${d.crop.width}×${d.crop.height} does not fit in the ${d.width}×${d.height} resized image` });
    }
  });

export const decodeSchema = z.discriminatedUnion('type', [tensorDecode, imageDecode]);

export const batchSchema = z.strictObject({
  /** A batch closes when it holds this many requests… */
  maxSize: z.number().int().min(1).max(65536).default(32),
  /** …or when its oldest request has waited this long. */
  maxDelayMs: z.number().min(0).max(60000).default(5),
});

export const modelSchema = z.strictObject({
  /** Model file; a relative path is resolved against the topology file's folder. */
  path: z.string().min(1),
  runtime: z.literal('onnx').default('onnx'),
  /** Intra-op threads of each session. */
  threads: z.number().int().min(1).max(256).default(1),
  /** Sessions (each on its own worker thread) per slot. */
  instances: z.number().int().min(1).max(64).default(1),
  /**
   * Let ONNX Runtime's intra-op threads spin-wait after each run (ORT's own default). Faster back to back
   * on cores nothing else needs; on a shared machine they burn CPU the event loop and Redis need (D-004).
   */
  spinning: z.boolean().default(false),
});

const postprocessObject = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('softmax') }),
  /** Each output `o` becomes `o_argmax`: int32, the index of the largest value of each row (last dimension dropped). */
  z.strictObject({ type: z.literal('argmax') }),
  /** Each output `o` becomes `o_indices` (int32) and `o_scores` (float32): the n best of each row, best first. */
  z.strictObject({ type: z.literal('topN'), n: z.number().int().min(1).default(5) }),
]);

/** `postprocess: softmax` is shorthand for `postprocess: { type: softmax }`. */
export const postprocessSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { type: v } : v),
  postprocessObject,
);

const redisSink = z.strictObject({
  type: z.literal('redis'),
  address: z.string().min(1).optional(),
  /** How long a result stays readable by `OutputQueue.query`. */
  resultTtlMs: z.number().int().min(1).default(10 * 60 * 1000),
  /** Reply streams are trimmed to about this many entries. */
  replyMaxLen: z.number().int().min(1).default(10000),
});

const kafkaSink = z.strictObject({
  type: z.literal('kafka'),
  brokers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1),
});

export const sinkSchema = z.discriminatedUnion('type', [redisSink, kafkaSink]);

/** A TensorBoard run name: one directory name (letters, digits, `-`, `_`, `.`), never a path. */
const TENSORBOARD_RUN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/**
 * The job's TensorBoard output, when the JobManager writes TensorBoard event files (`--tensorboard-dir`):
 * `true` (also when absent) writes the run `<name>-<jobId>`, `false` writes none, `{ run: NAME }` writes
 * the run NAME, so a resubmitted job continues the same curves. A run is a directory right inside the
 * JobManager's TensorBoard directory: the topology names it, never a path.
 */
export const tensorboardSchema = z.union(
  [
    z.boolean(),
    z.strictObject({
      run: z.string().regex(TENSORBOARD_RUN, 'a TensorBoard run name: letters, digits, "-", "_" and "." only (no "/"), starting with a letter or digit, at most 100'),
    }),
  ],
  { error: 'expected true, false or { run: NAME }' },
);

export const topologySchema = z.strictObject({
  /** Job name: letters, digits, `-`, `_`, `.`. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, "-", "_" and "." only, at most 100'),
  source: sourceSchema,
  decode: decodeSchema.default({ type: 'tensor', maxRequestBytes: 64 * 1024 * 1024 }),
  batch: batchSchema.default({ maxSize: 32, maxDelayMs: 5 }),
  model: modelSchema,
  postprocess: postprocessSchema.default({ type: 'none' }),
  sink: sinkSchema.default({ type: 'redis', resultTtlMs: 10 * 60 * 1000, replyMaxLen: 10000 }),
  /** Slots (subtasks) that run the job. */
  parallelism: z.number().int().min(1).max(1024).default(1),
  /** TensorBoard output of this job (see {@link tensorboardSchema}); on when absent. */
  tensorboard: tensorboardSchema.optional(),
});

/** A validated topology with defaults filled in. */
export type TopologySpec = z.output<typeof topologySchema>;
/** What a user writes (defaults optional). */
export type TopologyInput = z.input<typeof topologySchema>;
export type SourceSpec = TopologySpec['source'];
export type DecodeSpec = TopologySpec['decode'];
export type BatchSpec = TopologySpec['batch'];
export type ModelSpec = TopologySpec['model'];
export type PostprocessSpec = TopologySpec['postprocess'];
export type SinkSpec = TopologySpec['sink'];
export type TensorBoardSpec = NonNullable<TopologySpec['tensorboard']>;
