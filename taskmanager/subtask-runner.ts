import { Subject, filter, from, lastValueFrom, mergeMap, share, merge, defaultIfEmpty, type Observable, type OperatorFunction } from 'rxjs';
import type { Topology } from '../src/topology/topology';
import type { Logger } from '../src/logging/logger';
import type { LoadedModel, ModelRuntime } from '../src/runtime/model-runtime';
import type { Source, SourceEntry } from '../src/connector/source';
import type { Sink } from '../src/connector/sink';
import type { InferenceRequest, InferenceResult } from '../src/tensor/records';
import { sharedOnnxModels } from '../src/runtime/shared-model-cache';
import { decodeNative } from '../src/operators/decode-native';
import { firstTensorOffset } from '../src/protocol/native/first-tensor-offset';
import { decodeBigdl } from '../src/operators/decode-bigdl';
import { decodeImages, ImageBufferPool } from '../src/operators/decode-images';
import type { ImageToTensorOptions } from '../src/operators/image-to-tensor';
import { checkInputs, requestRows, shapeKey } from '../src/operators/check-inputs';
import { batchWindow } from '../src/operators/batch-window';
import { infer, InferLoad } from '../src/operators/infer';
import { postprocess } from '../src/operators/postprocess';
import { applyUserStep } from '../src/operators/user-step';
import { ClusterServingError } from '../src/errors';
import { backoffDelay } from '../src/retry/backoff';
import { PoisonPolicy } from '../src/retry/poison-policy';
import { deadLetterKey } from '../src/cluster-api/keys';
import { RedisStreamSource } from '../connectors/redis/redis-stream-source';
import { RedisResultSink, type PoisonEntry } from '../connectors/redis/redis-result-sink';
import { bigdlResultFormat, nativeResultFormat } from '../connectors/redis/result-format';
import { CreditGate } from './credit-gate';
import { CheckpointRecorder } from './checkpoint-recorder';

export interface SubtaskRunnerOptions {
  readonly jobId: string;
  readonly subtaskIndex: number;
  readonly topology: Topology;
  /** Stream keys this subtask reads. */
  readonly splits: readonly string[];
  /** The cluster's Redis, used when the topology's source/sink name no address. */
  readonly redisUrl: string;
  /** Stable consumer name within the job's consumer group, e.g. `<taskManagerId>-<subtaskIndex>`. */
  readonly consumerName: string;
  readonly logger: Logger;
  /**
   * The model runtime. By default ONNX Runtime on worker threads, shared within the process
   * (`sharedOnnxModels`): subtasks on the same model file and options load it once.
   */
  readonly runtime?: ModelRuntime;
  /** Recorded with the checkpoints. @default consumerName */
  readonly taskManagerId?: string;
  /** How often the source claims entries abandoned by dead readers (ms). @default 1000 (see RedisStreamSource) */
  readonly claimIntervalMs?: number;
  /** How long an entry must be pending on a reader before it counts as abandoned (ms). @default 5000 */
  readonly claimMinIdleMs?: number;
  /** Checkpoints are recorded in Redis at most this often (ms), and on close. @default 1000 */
  readonly checkpointIntervalMs?: number;
}

/** Results written to the sink in one script call at most. */
const SINK_CHUNK = 1024;
/** Sink calls in flight at once (pipelined on one connection). */
const SINK_CONCURRENCY = 4;
/** How long one XREADGROUP blocks, so that close() is noticed promptly. */
const READ_BLOCK_MS = 1000;

/**
 * Runs one subtask (one slot) of a job: the RxJS graph
 *
 *     source → decode → check inputs → user request steps → batch window → infer → postprocess
 *            → user result steps → sink (write result + ack, one script call per chunk)
 *
 * with bad requests short-circuiting to the sink as error results. In-flight work is bounded by a
 * credit gate: the read loop takes entries only while fewer than `4 × batch.maxSize × instances` are
 * between source and sink, so a slow model grows the stream, not this process.
 *
 * Entries delivered more than `source.maxDeliveries` times (see PoisonPolicy) skip the graph: they are
 * parked in the dead-letter stream with a CS_ERR_POISON result. Every entry read is tracked until its
 * result is written, and the per-split checkpoints are recorded in Redis (CheckpointRecorder).
 */
export class SubtaskRunner {
  private readonly log: Logger;
  private model: LoadedModel | undefined;
  private source: Source | undefined;
  private sink: (Sink & Pick<RedisResultSink, 'park'>) | undefined;
  private checkpoints: CheckpointRecorder | undefined;
  private poison: PoisonPolicy | undefined;
  /** Poison entries being parked. */
  private readonly parking = new Set<Promise<void>>();
  private readonly entries = new Subject<SourceEntry>();
  private gate: CreditGate | undefined;
  private done: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;
  /** Results written since start, for status and tests. */
  written = 0;
  /** Poison entries parked in the dead-letter stream since start. */
  parked = 0;
  /** Model runs, rows run and time spent in them since start. */
  runs = 0;
  rows = 0;
  runMs = 0;
  /** Images decoded (`decode: image`, native protocol) and the time their requests took to decode, summed. */
  images = 0;
  decodeMs = 0;
  private imageBuffers: ImageBufferPool | undefined;

  /** Requests whose decoded images are still held (between decode and their result reaching the sink). */
  get imageRequestsHeld(): number {
    return this.imageBuffers?.requests ?? 0;
  }

  constructor(readonly options: SubtaskRunnerOptions) {
    this.log = options.logger.child({ component: 'taskmanager.subtask', jobId: options.jobId, subtask: options.subtaskIndex });
  }

  async start(): Promise<void> {
    const { spec, requestSteps, resultSteps } = this.options.topology;
    if (spec.source.type !== 'redis' || spec.sink.type !== 'redis') {
      throw new ClusterServingError('CS_ERR_TOPOLOGY', `source ${spec.source.type} / sink ${spec.sink.type} is not available yet: only redis is`);
    }
    const bigdl = spec.source.protocol === 'bigdl';
    const stream = spec.source.stream ?? spec.name;
    const { jobId, subtaskIndex, consumerName, claimIntervalMs, claimMinIdleMs } = this.options;
    const model = (this.model = await (this.options.runtime ?? sharedOnnxModels).load(spec.model));
    const checkpoints = (this.checkpoints = new CheckpointRecorder({ redisUrl: this.options.redisUrl, jobId, subtaskIndex, taskManagerId: this.options.taskManagerId ?? consumerName, intervalMs: this.options.checkpointIntervalMs, logger: this.log }));
    const tracker = checkpoints.tracker;
    this.poison = new PoisonPolicy({ maxDeliveries: spec.source.maxDeliveries, deadLetterStream: deadLetterKey(stream) });
    this.source = new RedisStreamSource({
      url: spec.source.address ?? this.options.redisUrl,
      splits: this.options.splits,
      consumer: consumerName,
      claimIntervalMs,
      claimMinIdleMs,
      ownInFlight: (split, id) => tracker.inFlight(split, id),
      ...(bigdl ? {} : { payloadAlignment: firstTensorOffset }),
    });
    this.sink = new RedisResultSink({
      url: spec.sink.address ?? this.options.redisUrl,
      stream,
      resultTtlMs: spec.sink.resultTtlMs,
      replyMaxLen: spec.sink.replyMaxLen,
      format: bigdl ? bigdlResultFormat(stream, spec.source.bigdlConvention) : nativeResultFormat(stream),
    });
    await Promise.all([this.source.start(), this.sink.start(), checkpoints.start()]);
    const maxInFlight = Math.max(1, 4 * spec.batch.maxSize * model.concurrency);
    const gate = (this.gate = new CreditGate(maxInFlight));
    const sink = this.sink;
    const source = this.source;

    const { decode } = spec;
    const imageConcurrency = decode.type === 'image' ? decode.concurrency : undefined;
    // uint8 tensors sent for float32 inputs: normalised so as their batch is built (checked per request first).
    const normalize = decode.type === 'tensor' ? decode.normalize : undefined;
    const native = decodeNative({ maxRequestBytes: decode.maxRequestBytes });
    // Decoded images live in reused arrays, given back once the request's result is written.
    const imageBuffers = (this.imageBuffers = !bigdl && decode.type === 'image' ? new ImageBufferPool() : undefined);
    const decodeEntries: OperatorFunction<SourceEntry, InferenceRequest | InferenceResult> = bigdl
      ? decodeBigdl({ modelInputs: model.inputs, convention: spec.source.bigdlConvention, maxRequestBytes: decode.maxRequestBytes, image: decode.type === 'image' ? decode : undefined, ...(imageConcurrency !== undefined ? { imageConcurrency } : {}) })
      : decode.type === 'image'
        ? (entries) => entries.pipe(native, decodeImages({ modelInputs: model.inputs, image: nativeImageOptions(decode), concurrency: imageConcurrency, buffers: imageBuffers, onDecoded: (images, ms) => { this.images += images; this.decodeMs += ms; } }))
        : native;
    const decoded = this.entries.pipe(
      decodeEntries,
      checkInputs(model.inputs, normalize),
      chain(requestSteps.map((step) => onRequests(applyUserStep(step)))),
      share(),
    );
    // A batch that opens while an instance is free closes at the end of the burst (no window timer).
    const load = new InferLoad(model.concurrency);
    const rejected = decoded.pipe(filter((x): x is InferenceResult => x.kind === 'result'));
    const inferred = decoded.pipe(
      filter((x): x is InferenceRequest => x.kind === 'request'),
      batchWindow({ maxSize: spec.batch.maxSize, maxDelayMs: spec.batch.maxDelayMs, key: shapeKey, rows: requestRows, idle: () => load.idle }),
      infer(model, { maxSize: spec.batch.maxSize, load, normalize, onRun: (rows, ms) => { this.runs++; this.rows += rows; this.runMs += ms; } }),
      mergeMap((results) => from(results)),
      postprocess(spec.postprocess),
      chain(resultSteps.map((step) => onOkResults(applyUserStep(step)))),
    );

    this.done = lastValueFrom(
      merge(rejected, inferred).pipe(
        batchWindow({ maxSize: SINK_CHUNK, maxDelayMs: 0, key: () => '' }),
        mergeMap(async (results) => {
          try {
            await sink.write(results);
            this.written += results.length;
            checkpoints.written(results.map((r) => r.ref));
          } catch (err) {
            // Left pending: claimed again once idle long enough (by this reader or another).
            for (const r of results) tracker.released(r.ref.split, r.ref.entryId);
            this.log.error({ err, count: results.length }, 'taskmanager.sink.write_failed');
          } finally {
            // Written (or left to be read again): payload and decoded-image buffers can take the next
            // entries, even if a user step made outputs that view its request's tensors.
            for (const r of results) {
              source.recycle?.(r.ref);
              imageBuffers?.release(r.ref);
            }
            gate.release(results.length);
          }
        }, SINK_CONCURRENCY),
        defaultIfEmpty(undefined),
      ),
    ).then(
      () => undefined,
      (err: unknown) => this.log.error({ err }, 'taskmanager.subtask.failed'),
    );
    this.loop = this.readLoop(spec.source.readCount, gate);
    this.log.info({ splits: this.options.splits, maxInFlight }, 'taskmanager.subtask.started');
  }

  private async readLoop(readCount: number, gate: CreditGate): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const credits = await gate.acquire(readCount, () => this.stopping);
      if (credits === 0) break;
      let batch: SourceEntry[];
      try {
        batch = await this.source!.read(credits, READ_BLOCK_MS);
        if (failures > 0) this.log.info({ failures }, 'taskmanager.source.read_recovered');
        failures = 0;
      } catch (err) {
        gate.release(credits);
        if (this.stopping) break;
        const delay = backoffDelay(failures++, { maxMs: 1000 });
        // Once per outage at warn (Redis restarting is retried, not reported per retry).
        this.log[failures === 1 ? 'warn' : 'debug']({ err, delay }, 'taskmanager.source.read_failed');
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      gate.release(credits - batch.length);
      const poison: PoisonEntry[] = [];
      for (const entry of batch) {
        this.checkpoints!.tracker.read(entry.split, entry.entryId);
        const verdict = this.poison!.check(entry);
        // The payload is not decoded (decoding may be what kills its reader), so no reply: the client
        // sees the result through OutputQueue.query, or its predict times out.
        if (verdict) poison.push({ entry, uri: entry.uri || entry.entryId, replyTo: undefined, verdict });
        else this.entries.next(entry);
      }
      if (poison.length > 0) this.park(poison, gate);
    }
  }

  /** Parks poison entries (dead letter + CS_ERR_POISON result + ack, atomically) beside the graph. */
  private park(items: PoisonEntry[], gate: CreditGate): void {
    const tracker = this.checkpoints!.tracker;
    const parking = this.sink!.park(items).then(
      () => {
        this.parked += items.length;
        this.checkpoints!.written(items.map((p) => p.entry));
        for (const { entry, verdict } of items) this.log.warn({ split: entry.split, entryId: entry.entryId, uri: entry.uri, deliveries: verdict.deliveries }, 'taskmanager.source.poison_parked');
      },
      (err: unknown) => {
        for (const { entry } of items) tracker.released(entry.split, entry.entryId);
        this.log.error({ err, count: items.length }, 'taskmanager.source.poison_park_failed');
      },
    ).finally(() => {
      // Parked (copied into the dead-letter stream) or left pending: either way done with these bytes.
      const source = this.source;
      if (source?.recycle) for (const { entry } of items) source.recycle(entry);
      gate.release(items.length);
      this.parking.delete(parking);
    });
    this.parking.add(parking);
  }

  /** Finish in-flight batches and write their results (force: drop them, they will be redelivered). */
  close(options: { force?: boolean } = {}): Promise<void> {
    return (this.closing ??= (async () => {
      this.stopping = true;
      this.gate?.wake();
      await this.source?.close();
      await this.loop;
      if (options.force) this.entries.error(new ClusterServingError('CS_ERR_CLOSED', 'subtask closed'));
      else this.entries.complete();
      await this.done;
      await Promise.all([...this.parking]);
      await this.checkpoints?.close();
      await this.sink?.close();
      await this.model?.close();
      this.log.info({ eventLoopUtilization: performance.eventLoopUtilization().utilization, written: this.written, runs: this.runs, meanBatch: this.runs ? this.rows / this.runs : 0, meanRunMs: this.runs ? this.runMs / this.runs : 0, ...(this.images ? { images: this.images, meanDecodeMs: this.decodeMs / this.images } : {}) }, 'taskmanager.subtask.closed');
    })());
  }
}

/** A native topology's image decode options: NCHW and RGB unless it says otherwise. */
function nativeImageOptions(decode: Extract<Topology['spec']['decode'], { type: 'image' }>): ImageToTensorOptions {
  const { width, height, crop, scale, mean, std } = decode;
  return { width, height, crop, scale, mean, std, layout: decode.layout ?? 'NCHW', channelOrder: decode.channelOrder ?? 'RGB' };
}

/** Composes operators left to right (RxJS's `pipe` takes no arrays). */
function chain<T>(ops: readonly OperatorFunction<T, T>[]): OperatorFunction<T, T> {
  return (source: Observable<T>) => ops.reduce((acc, op) => acc.pipe(op), source);
}

/** Applies an operator to requests only; results (earlier errors) bypass it. */
function onRequests(op: OperatorFunction<InferenceRequest, InferenceRequest | InferenceResult>): OperatorFunction<InferenceRequest | InferenceResult, InferenceRequest | InferenceResult> {
  return (source) => {
    const shared = source.pipe(share());
    return merge(shared.pipe(filter((x): x is InferenceResult => x.kind === 'result')), shared.pipe(filter((x): x is InferenceRequest => x.kind === 'request'), op));
  };
}

/** Applies an operator to successful results only; error results bypass it. */
function onOkResults(op: OperatorFunction<InferenceResult, InferenceResult>): OperatorFunction<InferenceResult, InferenceResult> {
  return (source) => {
    const shared = source.pipe(share());
    return merge(shared.pipe(filter((x) => x.error !== undefined)), shared.pipe(filter((x) => x.error === undefined), op));
  };
}

