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
import { CONSUMER_GROUP, DEFAULT_CLUSTER, deadLetterKey, isReplyKey, replyKeyPrefix } from '../src/cluster-api/keys';
import { unusableEntryReason } from '../src/connector/unusable-entry';
import type { PoisonVerdict } from '../src/retry/poison-policy';
import { RedisStreamSource } from '../connectors/redis/redis-stream-source';
import { RedisResultSink, type PoisonEntry } from '../connectors/redis/redis-result-sink';
import { bigdlResultFormat, nativeResultFormat } from '../connectors/redis/result-format';
import { isFenced } from '../connectors/redis/subtask-fence';
import { CreditGate } from './credit-gate';
import { CheckpointRecorder } from './checkpoint-recorder';
import { JobEventRecorder } from './job-event-recorder';
import { SubtaskMeter } from '../src/metrics/subtask-meter';

export interface SubtaskRunnerOptions {
  /** The cluster the job belongs to: checkpoints and events are recorded under it. @default 'default' */
  readonly cluster?: string;
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
  /**
   * The epoch the JobManager assigned this subtask with. Its writes (and claims) are refused once the
   * JobManager has assigned a newer one (the subtask moved): the runner then stops reading and calls
   * `onFenced`. Undefined: not fenced.
   */
  readonly epoch?: number;
  /** Called once when the subtask finds itself fenced (the slot should close it). */
  readonly onFenced?: () => void;
  /**
   * Consumers of the job's group that held this subtask before (declared lost, fenced): their pending
   * entries are claimed at once. Only used with an `epoch`.
   */
  readonly takeOver?: (consumer: string) => boolean;
  /** Counts what the subtask does (heartbeat stats, Prometheus). @default a new one */
  readonly meter?: SubtaskMeter;
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
  private events: JobEventRecorder | undefined;
  private protocol: 'native' | 'bigdl' = 'native';
  private deadLetterStream = '';
  private poison: PoisonPolicy | undefined;
  /** Poison entries being parked. */
  private readonly parking = new Set<Promise<void>>();
  private readonly entries = new Subject<SourceEntry>();
  private gate: CreditGate | undefined;
  private done: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;
  /** Set once a write or claim was refused as stale: the subtask stops. */
  fenced = false;
  /** Results written since start, for status and tests. */
  written = 0;
  /** Poison entries parked in the dead-letter stream since start. */
  parked = 0;
  /** Unusable entries (no uri or data, unknown fields, undecodable) parked in the dead-letter stream since start. */
  unusable = 0;
  /** Times a split's stream or consumer group was found missing and created again since start. */
  groupsRecreated = 0;
  /** Set while reads keep failing (the last reason); reported with the heartbeats. */
  readProblem: string | undefined;
  /** Model runs, rows run and time spent in them since start. */
  runs = 0;
  rows = 0;
  runMs = 0;
  /** Images decoded (`decode: image`, native protocol) and the time their requests took to decode, summed. */
  images = 0;
  decodeMs = 0;
  private imageBuffers: ImageBufferPool | undefined;
  /** What this subtask has done since it started: sent with the heartbeats, scraped by Prometheus. */
  readonly meter: SubtaskMeter;

  /** Requests whose decoded images are still held (between decode and their result reaching the sink). */
  get imageRequestsHeld(): number {
    return this.imageBuffers?.requests ?? 0;
  }

  constructor(readonly options: SubtaskRunnerOptions) {
    this.log = options.logger.child({ component: 'taskmanager.subtask', jobId: options.jobId, subtask: options.subtaskIndex });
    this.meter = options.meter ?? new SubtaskMeter({ job: options.topology.spec.name, jobId: options.jobId, subtaskIndex: options.subtaskIndex });
  }

  async start(): Promise<void> {
    const { spec, requestSteps, resultSteps } = this.options.topology;
    if (spec.source.type !== 'redis' || spec.sink.type !== 'redis') {
      throw new ClusterServingError('CS_ERR_TOPOLOGY', `source ${spec.source.type} / sink ${spec.sink.type} is not available yet: only redis is`);
    }
    const bigdl = spec.source.protocol === 'bigdl';
    const stream = spec.source.stream ?? spec.name;
    const { jobId, subtaskIndex, consumerName, claimIntervalMs, claimMinIdleMs, epoch } = this.options;
    const fence = epoch !== undefined ? { cluster: this.options.cluster ?? DEFAULT_CLUSTER, jobId, subtaskIndex, epoch } : undefined;
    const meter = this.meter;
    const loadStartedAt = performance.now();
    const model = (this.model = await (this.options.runtime ?? sharedOnnxModels).load(spec.model));
    meter.modelLoadMs = performance.now() - loadStartedAt;
    const checkpoints = (this.checkpoints = new CheckpointRecorder({ redisUrl: this.options.redisUrl, cluster: this.options.cluster ?? DEFAULT_CLUSTER, jobId, subtaskIndex, taskManagerId: this.options.taskManagerId ?? consumerName, intervalMs: this.options.checkpointIntervalMs, logger: this.log }));
    const tracker = checkpoints.tracker;
    this.poison = new PoisonPolicy({ maxDeliveries: spec.source.maxDeliveries, deadLetterStream: deadLetterKey(stream) });
    this.protocol = bigdl ? 'bigdl' : 'native';
    this.deadLetterStream = deadLetterKey(stream);
    const cluster = this.options.cluster ?? DEFAULT_CLUSTER;
    const taskManagerId = this.options.taskManagerId ?? consumerName;
    const events = (this.events = new JobEventRecorder({ redisUrl: this.options.redisUrl, cluster, jobId, logger: this.log }));
    const redisSource = (this.source = new RedisStreamSource({
      url: spec.source.address ?? this.options.redisUrl,
      splits: this.options.splits,
      consumer: consumerName,
      claimIntervalMs,
      claimMinIdleMs,
      ownInFlight: (split, id) => tracker.inFlight(split, id),
      onGroupRecreated: (split) => {
        this.groupsRecreated++;
        events.record({ kind: 'group_recreated', split, subtaskIndex, taskManagerId, message: `stream ${split} or its consumer group ${CONSUMER_GROUP} was missing (deleted, expired, or Redis restarted without persistence); created again, entries it held are gone` });
      },
      ...(bigdl ? {} : { payloadAlignment: firstTensorOffset }),
      ...(fence ? { fence, ...(this.options.takeOver ? { takeOver: this.options.takeOver } : {}) } : {}),
    }));
    this.sink = new RedisResultSink({
      url: spec.sink.address ?? this.options.redisUrl,
      stream,
      resultTtlMs: spec.sink.resultTtlMs,
      replyMaxLen: spec.sink.replyMaxLen,
      format: bigdl ? bigdlResultFormat(stream, spec.source.bigdlConvention) : nativeResultFormat(stream),
      ...(fence ? { fence } : {}),
      onKeyConflict: (uris) => this.log.warn({ uris: uris.slice(0, 10), count: uris.length }, 'taskmanager.sink.key_conflict'),
    });
    await Promise.all([this.source.start(), this.sink.start(), checkpoints.start()]);
    const maxInFlight = Math.max(1, 4 * spec.batch.maxSize * model.concurrency);
    const gate = (this.gate = new CreditGate(maxInFlight));
    meter.inFlight = () => tracker.unwritten;
    meter.splitLoad = () => redisSource.groupLoad();
    const sink = this.sink;
    const source = this.source;

    const { decode } = spec;
    const imageConcurrency = decode.type === 'image' ? decode.concurrency : undefined;
    // uint8 tensors sent for float32 inputs: normalised so as their batch is built (checked per request first).
    const normalize = decode.type === 'tensor' ? decode.normalize : undefined;
    const native = decodeNative({ maxRequestBytes: decode.maxRequestBytes, acceptReplyTo: (key) => isReplyKey(stream, key), replyNamespace: `${replyKeyPrefix(stream)}<id>` });
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
      infer(model, { maxSize: spec.batch.maxSize, load, normalize, onRun: (rows, ms) => { this.runs++; this.rows += rows; this.runMs += ms; meter.batch(rows, ms); } }),
      mergeMap((results) => from(results)),
      postprocess(spec.postprocess),
      chain(resultSteps.map((step) => onOkResults(applyUserStep(step)))),
    );

    this.done = lastValueFrom(
      merge(rejected, inferred).pipe(
        batchWindow({ maxSize: SINK_CHUNK, maxDelayMs: 0, key: () => '' }),
        mergeMap(async (results) => {
          try {
            // Undecodable entries are parked (dead letter + error result + ack), the rest written.
            const dead = results.some((r) => r.deadLetter !== undefined) ? results.filter((r) => r.deadLetter !== undefined) : undefined;
            const ordinary = dead ? results.filter((r) => r.deadLetter === undefined) : results;
            await Promise.all([sink.write(ordinary), dead ? sink.park(dead.map((r) => this.undecodableEntry(r))) : undefined]);
            this.written += ordinary.length;
            const now = Date.now();
            for (const r of results) meter.result(r.ref.split, r.ref.entryId, r.error?.code, now);
            if (dead) {
              this.unusable += dead.length;
              meter.parked(dead.length);
              // One line per chunk: a writer sending garbage must not flood the log.
              const first = dead[0]!;
              this.log.warn({ count: dead.length, split: first.ref.split, entryId: first.ref.entryId, uri: first.uri, reason: first.deadLetter!.reason }, 'taskmanager.source.unusable_parked');
            }
            checkpoints.written(results.map((r) => r.ref));
          } catch (err) {
            // Left pending: claimed again once idle long enough (by this reader or another).
            for (const r of results) tracker.released(r.ref.split, r.ref.entryId);
            if (isFenced(err)) this.onFenced(err);
            else this.log.error({ err, count: results.length }, 'taskmanager.sink.write_failed');
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
        this.readProblem = undefined;
      } catch (err) {
        gate.release(credits);
        if (isFenced(err)) this.onFenced(err);
        if (this.stopping) break;
        // One failure may be a blip; from the second in a row the JobManager hears of it (job DEGRADED).
        if (failures >= 1) this.readProblem = (err instanceof Error ? err.message : String(err)).slice(0, 1000);
        const delay = backoffDelay(failures++, { maxMs: 1000 });
        // Once per outage at warn (Redis restarting is retried, not reported per retry).
        this.log[failures === 1 ? 'warn' : 'debug']({ err, delay }, 'taskmanager.source.read_failed');
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      gate.release(credits - batch.length);
      const poison: PoisonEntry[] = [];
      const unusable: PoisonEntry[] = [];
      for (const entry of batch) {
        this.meter.read(entry.split);
        this.checkpoints!.tracker.read(entry.split, entry.entryId);
        const problem = unusableEntryReason(entry, this.protocol);
        if (problem) {
          unusable.push({ entry, uri: entry.uri || entry.entryId, replyTo: undefined, verdict: this.unusableVerdict(entry, problem) });
          continue;
        }
        const verdict = this.poison!.check(entry);
        // The payload is not decoded (decoding may be what kills its reader), so no reply: the client
        // sees the result through OutputQueue.query, or its predict times out.
        if (verdict) poison.push({ entry, uri: entry.uri || entry.entryId, replyTo: undefined, verdict });
        else this.entries.next(entry);
      }
      if (poison.length > 0) this.park(poison, gate);
      if (unusable.length > 0) this.park(unusable, gate, 'unusable');
    }
  }

  /**
   * A write or claim was refused: the JobManager gave this subtask to another TaskManager (this one was
   * declared lost, e.g. paused past the heartbeat timeout). Stop reading at once; what is in flight is
   * refused too and stays pending for the new holder, which takes it over.
   */
  private onFenced(err: unknown): void {
    if (this.fenced) return;
    this.fenced = true;
    this.stopping = true;
    this.gate?.wake();
    this.log.warn({ reason: err instanceof Error ? err.message : String(err), epoch: this.options.epoch }, 'taskmanager.subtask.fenced');
    this.options.onFenced?.();
  }

  /** What the sink parks for a result marked undecodable by the decode operator. */
  private undecodableEntry(r: InferenceResult): PoisonEntry {
    const { entry, reason } = r.deadLetter!;
    const error = r.error ?? { code: 'CS_ERR_BAD_REQUEST', message: reason };
    return { entry, uri: r.uri, replyTo: r.replyTo, verdict: { deliveries: entry.deliveries ?? 1, reason, error: { code: error.code, message: `${error.message} (parked in ${this.deadLetterStream})` } } };
  }

  /** The dead-letter reason and error result of an entry that cannot be used at all. */
  private unusableVerdict(entry: SourceEntry, problem: string): PoisonVerdict {
    const reason = `unusable entry: ${problem}`;
    return { deliveries: entry.deliveries ?? 1, reason, error: { code: 'CS_ERR_BAD_REQUEST', message: `${reason}: not processed, parked in ${this.deadLetterStream}` } };
  }

  /** Parks poison entries (dead letter + CS_ERR_POISON result + ack, atomically) beside the graph. */
  private park(items: PoisonEntry[], gate: CreditGate, kind: 'poison' | 'unusable' = 'poison'): void {
    const tracker = this.checkpoints!.tracker;
    const parking = this.sink!.park(items).then(
      () => {
        if (kind === 'poison') this.parked += items.length;
        else this.unusable += items.length;
        const now = Date.now();
        for (const { entry, verdict } of items) this.meter.result(entry.split, entry.entryId, verdict.error.code, now);
        this.meter.parked(items.length);
        this.checkpoints!.written(items.map((p) => p.entry));
        if (kind === 'poison') {
          for (const { entry, verdict } of items) this.log.warn({ split: entry.split, entryId: entry.entryId, uri: entry.uri, deliveries: verdict.deliveries }, 'taskmanager.source.poison_parked');
        } else {
          // One line per read: a writer sending garbage must not flood the log.
          const { entry, verdict } = items[0]!;
          this.log.warn({ count: items.length, split: entry.split, entryId: entry.entryId, uri: entry.uri, reason: verdict.reason }, 'taskmanager.source.unusable_parked');
        }
      },
      (err: unknown) => {
        for (const { entry } of items) tracker.released(entry.split, entry.entryId);
        if (isFenced(err)) this.onFenced(err);
        else this.log.error({ err, count: items.length }, 'taskmanager.source.poison_park_failed');
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
      await this.events?.close();
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

