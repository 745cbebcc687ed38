import { filter as rxFilter, map as rxMap, mergeMap as rxMergeMap, type OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors/cluster-serving-error';
import type { InferenceRequest, InferenceResult } from '../tensor/records';
import type { TopologyInput } from './schema';
import type { Topology, UserStep } from './topology';
import { checkSpec } from './validate-spec';

/*
 * The DataStream-style builder of TypeScript topologies (SPEC §4). Each stage is an immutable object whose
 * methods return the next stage, so the types only offer what may come next: request steps (on
 * InferenceRequest) between source and batch, result steps (on InferenceResult) after infer, the built-in
 * postprocess right after infer. The builder only records; `toTopology` validates what was recorded with
 * the same schema as the YAML form, and the TaskManager applies the steps.
 */

/** What `.source(...)` takes: a Redis stream or a Kafka topic (see the topology schema). */
export type SourceInput = TopologyInput['source'];
/**
 * What `.decode(...)` takes: `{ type: 'tensor' }` (the default; float32 inputs also take float16 and uint8
 * tensors, uint8 normalised by `normalize: { scale, mean, std, channelAxis }` when given) or
 * `{ type: 'image', width, height, ... }`.
 */
export type DecodeInput = NonNullable<TopologyInput['decode']>;
/** What `.batch(...)` takes: `{ maxSize, maxDelayMs }`, both optional. */
export type BatchInput = NonNullable<TopologyInput['batch']>;
/** What `.infer(...)` takes: `{ path, runtime?, threads?, instances? }`; a relative path is against the topology file's folder. */
export type ModelInput = TopologyInput['model'];
/** What `.sink(...)` takes: Redis (the default) or Kafka. */
export type SinkInput = NonNullable<TopologyInput['sink']>;
/** What `.tensorboard(...)` takes: `false` (no TensorBoard run for this job), `true`, or `{ run: 'name' }` (the run's directory name). */
export type TensorBoardInput = NonNullable<TopologyInput['tensorboard']>;
/** A built-in postprocess: a name, or an object with options (`{ type: 'topN', n: 3 }`). */
export type PostprocessInput = 'none' | 'softmax' | 'argmax' | 'topN' | { type: 'none' } | { type: 'softmax' } | { type: 'argmax' } | { type: 'topN'; n?: number };

/** Everything a builder has recorded so far. */
interface BuilderState {
  readonly spec: Readonly<Record<string, unknown>>;
  readonly requestSteps: readonly UserStep<InferenceRequest>[];
  readonly resultSteps: readonly UserStep<InferenceResult>[];
}

/** The key under which every stage exposes its recorded state; `Symbol.for` so copies of the package agree. */
const STATE = Symbol.for('cluster-serving.topology-builder.state');

/** Common base of all stages: holds the recorded state, exposes it to `toTopology` only. */
abstract class Stage {
  /** @internal */
  readonly [STATE]: BuilderState;
  /** @internal */
  constructor(state: BuilderState) {
    this[STATE] = state;
  }
}

function withSpec(state: BuilderState, key: string, value: unknown): BuilderState {
  return { ...state, spec: { ...state.spec, [key]: value } };
}

function step<T>(name: string, operator: OperatorFunction<T, T>, concurrency?: number): UserStep<T> {
  return concurrency === undefined ? { name, operator } : { name, operator, concurrency };
}

/** Options of an asynchronous step. */
export interface AsyncStepOptions {
  /** Most records inside the step at once (Flink's async I/O capacity); unbounded by default. */
  readonly concurrency?: number;
}

/**
 * The start of a topology: only `.source(...)` comes next.
 * @example `topology('tiny').source({ type: 'redis', stream: 'tiny' })`
 */
export class TopologyStart extends Stage {
  /** Where requests come from. */
  source(source: SourceInput): SourceStage {
    return new SourceStage(withSpec(this[STATE], 'source', source));
  }
}

/**
 * Requests after decode: add request steps, then batch (or infer with the default batching).
 *
 * A request's input tensors may view the source's payload buffer, which is reused for a later request
 * once this request's result is written (D-020): a step that keeps tensor data beyond that (a cache, a
 * side channel) must copy it, e.g. `Uint8Array.from(t.data)`.
 */
export class RequestStage extends Stage {
  /**
   * Adds a request step: a plain function applied to each decoded request before batching. What it throws
   * becomes an error result for that request alone.
   * @example `.map('clamp', (req) => req)`
   */
  map(name: string, fn: (request: InferenceRequest) => InferenceRequest): RequestStage {
    return this.pipe(name, rxMap(fn));
  }

  /**
   * Adds a request step written as an RxJS operator, applied per request. A request it emits nothing for
   * gets an error result, so every request still has exactly one outcome.
   * @example `.pipe('tag', map((req) => req))`
   */
  pipe(name: string, operator: OperatorFunction<InferenceRequest, InferenceRequest>): RequestStage {
    const state = this[STATE];
    return new RequestStage({ ...state, requestSteps: [...state.requestSteps, step(name, operator)] });
  }

  /**
   * Adds a request step that refuses requests the predicate rejects: such a request gets an error result
   * (naming this step) instead of reaching the model. Nothing is dropped silently.
   * @example `.filter('has-input', (req) => req.inputs.has('input'))`
   */
  filter(name: string, predicate: (request: InferenceRequest) => boolean): RequestStage {
    return this.pipe(name, rxFilter(predicate));
  }

  /**
   * Adds an asynchronous request step (Flink's async I/O): `fn` may call out to a service; at most
   * `concurrency` requests are inside it at once. A rejection is an error result for that request.
   * @example `.mapAsync('enrich', async (req) => enrich(req), { concurrency: 8 })`
   */
  mapAsync(name: string, fn: (request: InferenceRequest) => Promise<InferenceRequest>, options: AsyncStepOptions = {}): RequestStage {
    const state = this[STATE];
    return new RequestStage({ ...state, requestSteps: [...state.requestSteps, step(name, rxMergeMap((r: InferenceRequest) => fn(r)), options.concurrency)] });
  }

  /**
   * Groups requests into batches: a batch closes at `maxSize` requests or `maxDelayMs` after its first.
   * @example `.batch({ maxSize: 32, maxDelayMs: 2 })`
   */
  batch(batch: BatchInput): BatchStage {
    return new BatchStage(withSpec(this[STATE], 'batch', batch));
  }

  /**
   * Runs the model on the default batches (`maxSize` 32, `maxDelayMs` 5).
   * @example `.infer({ path: '../models/tiny.onnx' })`
   */
  infer(model: ModelInput): InferStage {
    return new InferStage(withSpec(this[STATE], 'model', model));
  }
}

/** Right after `.source(...)`: choose the decoder (optional, tensor by default), or go on with request steps. */
export class SourceStage extends RequestStage {
  /**
   * How request payloads are decoded.
   * @example `.decode({ type: 'image', width: 224, height: 224 })`
   * @example `.decode({ type: 'tensor', normalize: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } })`
   *   (clients send uint8 [N, 3, H, W] pixels, the model gets normalised float32)
   */
  decode(decode: DecodeInput): RequestStage {
    return new RequestStage(withSpec(this[STATE], 'decode', decode));
  }
}

/** After `.batch(...)`: only `.infer(...)` comes next. */
export class BatchStage extends Stage {
  /**
   * Runs the model on each batch.
   * @example `.infer({ path: '../models/tiny.onnx', threads: 1 })`
   */
  infer(model: ModelInput): InferStage {
    return new InferStage(withSpec(this[STATE], 'model', model));
  }
}

/**
 * Results after inference: add result steps, then (optionally) the sink. A ResultStage is already a
 * complete topology and may be the module's default export.
 */
export class ResultStage extends Stage {
  /**
   * Adds a result step: a plain function applied to each successful result before the sink (error
   * results go to the sink untouched). What it throws becomes an error result for that request.
   * @example `.map('label', (res) => res)`
   */
  map(name: string, fn: (result: InferenceResult) => InferenceResult): ResultStage {
    return this.pipe(name, rxMap(fn));
  }

  /**
   * Adds a result step written as an RxJS operator, applied per result.
   * @example `.pipe('rx-step', map((res) => res))`
   */
  pipe(name: string, operator: OperatorFunction<InferenceResult, InferenceResult>): ResultStage {
    const state = this[STATE];
    return new ResultStage({ ...state, resultSteps: [...state.resultSteps, step(name, operator)] });
  }

  /**
   * Adds a result step that turns results the predicate rejects into error results (naming this step).
   * @example `.filter('confident', (res) => res.error !== undefined || maxOf(res) > 0.5)`
   */
  filter(name: string, predicate: (result: InferenceResult) => boolean): ResultStage {
    return this.pipe(name, rxFilter(predicate));
  }

  /**
   * Adds an asynchronous result step (Flink's async I/O): at most `concurrency` results inside it at once.
   * @example `.mapAsync('store', async (res) => { await save(res); return res; }, { concurrency: 4 })`
   */
  mapAsync(name: string, fn: (result: InferenceResult) => Promise<InferenceResult>, options: AsyncStepOptions = {}): ResultStage {
    const state = this[STATE];
    return new ResultStage({ ...state, resultSteps: [...state.resultSteps, step(name, rxMergeMap((r: InferenceResult) => fn(r)), options.concurrency)] });
  }

  /**
   * Where results go (Redis by default). Ends the graph.
   * @example `.sink({ type: 'redis', resultTtlMs: 60_000 })`
   */
  sink(sink: SinkInput): FinishedTopology {
    return new FinishedTopology(withSpec(this[STATE], 'sink', sink));
  }

  /**
   * How many slots (subtasks) run the job.
   * @example `.parallelism(2)`
   */
  parallelism(parallelism: number): ResultStage {
    return new ResultStage(withSpec(this[STATE], 'parallelism', parallelism));
  }

  /**
   * The job's TensorBoard run, when the JobManager writes TensorBoard event files (`--tensorboard-dir`):
   * `false` for none, `{ run: 'name' }` to name the run's directory (default `<name>-<jobId>`).
   * @example `.tensorboard({ run: 'resnet-prod' })`
   */
  tensorboard(tensorboard: TensorBoardInput): ResultStage {
    return new ResultStage(withSpec(this[STATE], 'tensorboard', tensorboard));
  }
}

/** Right after `.infer(...)`: the built-in postprocess may come first, before any result step. */
export class InferStage extends ResultStage {
  /**
   * A built-in postprocess applied to each result before the result steps.
   * @example `.postprocess('softmax')` or `.postprocess({ type: 'topN', n: 3 })`
   */
  postprocess(postprocess: PostprocessInput): ResultStage {
    return new ResultStage(withSpec(this[STATE], 'postprocess', postprocess));
  }
}

/** A complete topology after `.sink(...)`; only `.parallelism(...)` and `.tensorboard(...)` may follow. */
export class FinishedTopology extends Stage {
  /**
   * How many slots (subtasks) run the job.
   * @example `.parallelism(2)`
   */
  parallelism(parallelism: number): FinishedTopology {
    return new FinishedTopology(withSpec(this[STATE], 'parallelism', parallelism));
  }

  /**
   * The job's TensorBoard run (see {@link ResultStage.tensorboard}).
   * @example `.tensorboard(false)`
   */
  tensorboard(tensorboard: TensorBoardInput): FinishedTopology {
    return new FinishedTopology(withSpec(this[STATE], 'tensorboard', tensorboard));
  }
}

/** What a TypeScript topology module may export as default: a complete builder, or a function returning one. */
export type TopologyBuilder = ResultStage | FinishedTopology;

/**
 * Starts a TypeScript topology, in the Flink DataStream style. The module's default export is the
 * finished builder (or a function returning it).
 *
 * @param name - the job name: letters, digits, `-`, `_`, `.`.
 * @example
 * ```ts
 * import { topology } from 'cluster-serving';
 * import { map } from 'rxjs';
 * export default topology('tiny-custom')
 *   .source({ type: 'redis', stream: 'tiny-custom' })
 *   .map('scale-input', (req) => req)
 *   .batch({ maxSize: 32, maxDelayMs: 2 })
 *   .infer({ path: '../models/tiny.onnx' })
 *   .postprocess('softmax')
 *   .pipe('rx-step', map((res) => res))
 *   .sink({ type: 'redis', resultTtlMs: 60_000 })
 *   .parallelism(1);
 * ```
 */
export function topology(name: string): TopologyStart {
  return new TopologyStart({ spec: { name }, requestSteps: [], resultSteps: [] });
}

/**
 * Turns what a topology module exported into a validated {@link Topology}: a builder (any stage), a
 * function returning one, or a plain topology object (the YAML form as a value, with no user steps).
 * Every problem is reported at once: schema problems by field path, and step problems (empty or duplicate
 * names, an operator that is not a function) as `steps.<name>: ...`.
 *
 * @throws {@link TopologyError} listing every problem.
 * @example
 * ```ts
 * const t = toTopology(topology('x').source({ type: 'redis' }).infer({ path: '/m/x.onnx' }));
 * t.spec.batch.maxSize; // 32
 * ```
 */
export function toTopology(builderOrValue: unknown): Topology {
  const value: unknown = typeof builderOrValue === 'function' ? (builderOrValue as () => unknown)() : builderOrValue;
  if (isThenable(value)) throw new TopologyError(['(default export): a topology function must return the builder, not a Promise']);
  const state = stateOf(value);
  if (state === undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new TopologyError([`(default export): expected a topology builder (export default topology('name')...), got ${describe(value)}`]);
  }
  const check = checkSpec(state === undefined ? value : state.spec);
  const problems = check.ok ? [] : check.problems.map((p) => (state === undefined ? p.text : withBuilderHint(p.path, p.text)));
  const requestSteps = state?.requestSteps ?? [];
  const resultSteps = state?.resultSteps ?? [];
  problems.push(...stepProblems([...requestSteps, ...resultSteps]));
  if (!check.ok || problems.length > 0) throw new TopologyError(problems);
  return { spec: check.spec, requestSteps: Object.freeze([...requestSteps]), resultSteps: Object.freeze([...resultSteps]) };
}

/** Missing stages are named the way a builder user adds them. */
function withBuilderHint(path: readonly (string | number)[], text: string): string {
  if (path.length !== 1 || !text.includes('missing required field')) return text;
  if (path[0] === 'source') return `${text}; add .source({ type: 'redis' })`;
  if (path[0] === 'model') return `${text}; add .infer({ path: 'model.onnx' })`;
  return text;
}

function stateOf(value: unknown): BuilderState | undefined {
  if (typeof value !== 'object' || value === null || !(STATE in value)) return undefined;
  return (value as { [STATE]: BuilderState })[STATE];
}

function stepProblems(steps: readonly { readonly name: string; readonly operator: unknown }[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, s] of steps.entries()) {
    const name: unknown = s.name;
    if (typeof name !== 'string' || name.trim() === '') {
      problems.push(`steps[${i}]: a step needs a non-empty name`);
      continue;
    }
    if (seen.has(name)) problems.push(`steps.${name}: duplicate step name; names must be unique within a topology`);
    seen.add(name);
    if (typeof s.operator !== 'function') problems.push(`steps.${name}: expected a function or an RxJS operator, got ${describe(s.operator)}`);
  }
  return problems;
}

function isThenable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
