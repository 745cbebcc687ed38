import { Observable, type OperatorFunction } from 'rxjs';
import type { GatheredInput, LoadedModel } from '../runtime/model-runtime';
import { errorResult, okResult, type InferenceRequest, type InferenceResult } from '../tensor/records';
import type { DType, Tensor } from '../tensor/tensor';
import type { Normalization } from '../tensor/wire-dtypes';
import { toClusterServingError } from '../errors';
import { concatRows, splitRows } from './batch-tensors';
import { requestRows, shapeKey } from './check-inputs';

/**
 * How busy the infer operator is, for the batch window upstream: idle when an instance is free and no
 * batch waits for one (see BatchWindowOptions.idle).
 */
export class InferLoad {
  running = 0;
  queued = 0;
  constructor(readonly capacity: number) {}

  get idle(): boolean {
    return this.running < this.capacity && this.queued === 0;
  }
}

export interface InferOptions {
  /** Most rows one model run takes; queued batches of the same shape are merged up to it. */
  readonly maxSize: number;
  /** Kept up to date with the runs in progress and the batches queued. */
  readonly load?: InferLoad;
  /** Called with each run's size and duration, for metrics. */
  readonly onRun?: (rows: number, ms: number) => void;
  /** uint8 request tensors of a float32 input are normalised so while the batch is built; cast as they are without it. */
  readonly normalize?: Normalization | undefined;
}

/** The batch input of `parts` (rows along the first dimension) left for the model to join as `dtype`. */
function gathered(parts: readonly Tensor[], dtype: DType, normalize: Normalization | undefined): GatheredInput {
  const first = parts[0]!;
  const rows = parts.reduce((n, p) => n + (p.shape[0] ?? 1), 0);
  return { kind: 'gathered', dtype, normalize, shape: [rows, ...first.shape.slice(1)], parts };
}

/** Runs one batch; a failed batch of several requests is retried one request at a time, so only the culprit fails. */
async function runBatch(model: LoadedModel, batch: readonly InferenceRequest[], options: InferOptions): Promise<InferenceResult[]> {
  const { onRun, normalize } = options;
  const rows = batch.map(requestRows);
  const feeds = new Map<string, Tensor | GatheredInput>();
  const allocate = (bytes: number): Uint8Array => model.allocateInput(bytes);
  try {
    // Built as the model's input dtypes: float16 and uint8 request tensors are converted on the way. A
    // model that gathers joins (and converts) the requests' bytes on its own thread: none are copied here.
    for (const name of batch[0]!.inputs.keys()) {
      const parts = batch.map((r) => r.inputs.get(name)!);
      const dtype = model.inputs.find((i) => i.name === name)?.dtype ?? parts[0]!.dtype;
      feeds.set(name, model.gathers ? gathered(parts, dtype, normalize) : concatRows(parts, allocate, { dtype, normalize }));
    }
    const started = performance.now();
    const outputs = await model.run(feeds);
    onRun?.(rows.reduce((a, b) => a + b, 0), performance.now() - started);
    const perRequest: Map<string, Tensor>[] = batch.map(() => new Map());
    for (const [name, t] of outputs) {
      const parts = batch.length === 1 ? [t] : splitRows(t, rows);
      if (!parts) throw new Error(`output ${name} of shape [${t.shape.join(', ')}] does not follow the batch dimension`);
      parts.forEach((p, i) => perRequest[i]!.set(name, p));
    }
    return batch.map((req, i) => okResult(req, perRequest[i]!));
  } catch (err) {
    if (batch.length > 1) {
      // One at a time: the retries hold the same instance slot as the failed batch.
      const results: InferenceResult[] = [];
      for (const req of batch) results.push(...(await runBatch(model, [req], options)));
      return results;
    }
    const e = toClusterServingError(err, 'CS_ERR_INFERENCE');
    return [errorResult(batch[0]!, { code: e.code === 'CS_ERR_INTERNAL' ? 'CS_ERR_INFERENCE' : e.code, message: e.message })];
  }
}

/**
 * Runs batches on the model, at most `model.concurrency` at a time (one per instance, each on its own
 * worker thread, so the event loop stays free for I/O while they run). Batches that queue while every
 * instance is busy are merged, when their shapes agree, up to `maxSize` rows: under load the model sees
 * full batches even if the window closed early, and when idle a batch starts at once. Emits one array
 * of results per run, in completion order; completes after the last run.
 */
export function infer(model: LoadedModel, options: InferOptions): OperatorFunction<InferenceRequest[], InferenceResult[]> {
  return (source) =>
    new Observable<InferenceResult[]>((subscriber) => {
      const queue: InferenceRequest[][] = [];
      let running = 0;
      let sourceDone = false;
      let closed = false;

      const takeNext = (): InferenceRequest[] | undefined => {
        const first = queue.shift();
        if (!first) return undefined;
        const head = [...first];
        const key = shapeKey(head[0]!);
        let rows = head.reduce((n, r) => n + requestRows(r), 0);
        for (let i = 0; i < queue.length && rows < options.maxSize; ) {
          const next = queue[i]!;
          const nextRows = next.reduce((n, r) => n + requestRows(r), 0);
          if (shapeKey(next[0]!) === key && rows + nextRows <= options.maxSize) {
            head.push(...next);
            rows += nextRows;
            queue.splice(i, 1);
          } else i++;
        }
        return head;
      };

      const load = options.load;
      const report = (): void => {
        if (!load) return;
        load.running = running;
        load.queued = queue.length;
      };
      const pump = (): void => {
        while (!closed && running < model.concurrency) {
          const batch = takeNext();
          if (!batch) break;
          running++;
          runBatch(model, batch, options).then(
            (results) => {
              running--;
              report();
              if (closed) return;
              subscriber.next(results);
              pump();
            },
            (err: unknown) => {
              running--;
              report();
              subscriber.error(err);
            },
          );
        }
        report();
        if (!closed && sourceDone && running === 0 && queue.length === 0) subscriber.complete();
      };

      const subscription = source.subscribe({
        next: (batch) => {
          if (batch.length === 0) return;
          queue.push(batch);
          pump();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          pump();
        },
      });
      return () => {
        closed = true;
        subscription.unsubscribe();
      };
    });
}
