import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { of, Subject, throwError, type Subscription } from 'rxjs';
import { infer, type InferOptions } from '../../src/operators/infer';
import type { LoadedModel, TensorInfo } from '../../src/runtime/model-runtime';
import type { InferenceRequest, InferenceResult } from '../../src/tensor/records';
import { tensorFrom, toTypedArray, type NamedTensors, type Tensor } from '../../src/tensor/tensor';
import { ClusterServingError } from '../../src/errors';
import { toFloat16 } from '../../src/tensor/float16';

// ---------------------------------------------------------------------------------------------------
// A test double of our own LoadedModel interface: y = 2x and sum = row sums, computed in JS.
// ---------------------------------------------------------------------------------------------------

/** The value that makes a run fail (a stand-in for an input the runtime chokes on). */
const POISON = -1;

interface Run {
  /** Input values and shape, copied when `run` was called (feed buffers may be reused afterwards). */
  readonly values: number[];
  readonly shape: readonly number[];
  readonly feedBuffer: ArrayBufferLike;
  settled: boolean;
  /** Settles this run with its computed outcome (a no-op once settled). */
  release(): void;
}

class DoublingModel implements LoadedModel {
  readonly inputs: readonly TensorInfo[] = [{ name: 'x', dtype: 'float32', shape: ['batch', 'width'] }];
  readonly outputs: readonly TensorInfo[] = [
    { name: 'y', dtype: 'float32', shape: ['batch', 'width'] },
    { name: 'sum', dtype: 'float32', shape: ['batch'] },
  ];
  readonly runs: Run[] = [];
  readonly allocated: Uint8Array[] = [];
  active = 0;
  maxActive = 0;
  closed = false;
  /** What a failing run rejects with. */
  failWith: unknown = new Error('poisoned input');
  /** When set, every output has this fixed leading dimension (an output that ignores the batch). */
  fixedOutputRows: number | undefined;

  constructor(
    readonly concurrency: number,
    private readonly hold: boolean,
  ) {}

  allocateInput(bytes: number): Uint8Array {
    const b = new Uint8Array(bytes);
    this.allocated.push(b);
    return b;
  }

  run(feeds: NamedTensors): Promise<NamedTensors> {
    const x = feeds.get('x');
    if (!x) return Promise.reject(new Error('missing input x'));
    const values = [...(toTypedArray(x) as Float32Array)];
    const [rows = 1, width = 1] = x.shape;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    let resolve!: (v: NamedTensors) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<NamedTensors>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const outRows = this.fixedOutputRows ?? rows;
    const y = Float32Array.from({ length: outRows * width }, (_, i) => 2 * (values[i] ?? 0));
    const sum = Float32Array.from({ length: outRows }, (_, r) => values.slice(r * width, r * width + width).reduce((a, b) => a + b, 0));
    const fail = values.includes(POISON);
    const run: Run = {
      values,
      shape: [...x.shape],
      feedBuffer: x.data.buffer,
      settled: false,
      release: () => {
        if (run.settled) return;
        run.settled = true;
        this.active--;
        if (fail) reject(this.failWith);
        else resolve(new Map([['y', tensorFrom(y, [outRows, width])], ['sum', tensorFrom(sum, [outRows])]]));
      },
    };
    this.runs.push(run);
    if (!this.hold) run.release();
    return promise;
  }

  /** Runs not yet released. */
  pending(): Run[] {
    return this.runs.filter((r) => !r.settled);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/** Lets every queued promise callback run (the operator's chain of then/await is all microtasks). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A request of `rows` x `width` float32 values base, base+1, ... */
function req(uri: string, rows = 1, width = 2, base = 1): InferenceRequest {
  const x = Float32Array.from({ length: rows * width }, (_, i) => base + i);
  return { kind: 'request', uri, ref: { split: 'split-0', entryId: `${uri}-id` }, replyTo: `reply-${uri}`, inputs: new Map([['x', tensorFrom(x, [rows, width])]]), receivedAt: 1 };
}
function poisoned(uri: string): InferenceRequest {
  return { ...req(uri), inputs: new Map([['x', tensorFrom(new Float32Array([3, POISON]), [1, 2])]]) };
}

const inputValues = (r: InferenceRequest): number[] => [...(toTypedArray(r.inputs.get('x')!) as Float32Array)];
const floats = (t: Tensor | undefined): number[] => {
  assert.ok(t, 'tensor missing');
  return [...(toTypedArray(t) as Float32Array)];
};

/** Runs the operator on a Subject and records what comes out. */
function harness(model: DoublingModel, options: InferOptions) {
  const source = new Subject<InferenceRequest[]>();
  const emitted: InferenceResult[][] = [];
  const state = { completed: false, error: undefined as unknown };
  const subscription: Subscription = source.pipe(infer(model, options)).subscribe({
    next: (v) => emitted.push(v),
    error: (e: unknown) => (state.error = e),
    complete: () => (state.completed = true),
  });
  return { source, emitted, state, subscription };
}

/** The request uris of each model run, identified by the input values (every test request has distinct values). */
function runUris(model: DoublingModel, requests: InferenceRequest[]): string[][] {
  return model.runs.map((run) => {
    const uris: string[] = [];
    let offset = 0;
    while (offset < run.values.length) {
      const hit = requests.find((r) => {
        const v = inputValues(r);
        return v.every((x, i) => run.values[offset + i] === x);
      });
      assert.ok(hit, `run values ${run.values.join(',')} at ${offset} match no request`);
      uris.push(hit.uri);
      offset += inputValues(hit).length;
    }
    return uris;
  });
}

function assertOk(res: InferenceResult | undefined, from: InferenceRequest): void {
  assert.ok(res, `no result for ${from.uri}`);
  assert.equal(res.uri, from.uri);
  assert.deepEqual(res.ref, from.ref);
  assert.equal(res.replyTo, from.replyTo);
  assert.equal(res.receivedAt, from.receivedAt);
  assert.equal(res.error, undefined, `unexpected error for ${from.uri}: ${res.error?.message}`);
  const x = inputValues(from);
  const [rows, width] = from.inputs.get('x')!.shape as [number, number];
  const y = res.outputs!.get('y')!;
  assert.deepEqual(y.shape, [rows, width]);
  assert.deepEqual(floats(y), x.map((v) => 2 * v));
  const sum = res.outputs!.get('sum')!;
  assert.deepEqual(sum.shape, [rows]);
  assert.deepEqual(floats(sum), Array.from({ length: rows }, (_, r) => x.slice(r * width, r * width + width).reduce((a, b) => a + b, 0)));
}

// ---------------------------------------------------------------------------------------------------

describe('infer: batching queued work', () => {
  test('an idle model starts a batch at once', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 8 });
    const a = req('a');
    h.source.next([a]);
    assert.equal(model.runs.length, 1, 'run started synchronously on next');
    model.runs[0]!.release();
    await flush();
    assert.equal(h.emitted.length, 1);
    assertOk(h.emitted[0]![0], a);
  });

  test('batches queued while the model is busy are merged up to maxSize rows', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 4 });
    const all = [req('a', 1, 2, 0), req('b', 1, 2, 10), req('c', 2, 2, 20), req('d', 1, 2, 40), req('e', 1, 2, 50)];
    const [a, b, c, d, e] = all as [InferenceRequest, InferenceRequest, InferenceRequest, InferenceRequest, InferenceRequest];
    h.source.next([a]);
    h.source.next([b]);
    h.source.next([c]);
    h.source.next([d]);
    h.source.next([e]);
    assert.equal(model.runs.length, 1, 'the rest waits while the model is busy');
    model.runs[0]!.release();
    await flush();
    assert.equal(model.runs.length, 2);
    assert.deepEqual(model.runs[1]!.shape, [4, 2], 'b + c + d = 4 rows, e does not fit');
    model.runs[1]!.release();
    await flush();
    assert.deepEqual(model.runs[2]!.shape, [1, 2]);
    model.runs[2]!.release();
    await flush();
    assert.deepEqual(runUris(model, all), [['a'], ['b', 'c', 'd'], ['e']]);
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => r.uri)), [['a'], ['b', 'c', 'd'], ['e']]);
    h.emitted.flat().forEach((res) => assertOk(res, all.find((r) => r.uri === res.uri)!));
  });

  test('a queued batch that would overflow is skipped for a later one that fits', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 3 });
    const all = [req('a', 1, 2, 0), req('b', 2, 2, 10), req('c', 2, 2, 20), req('d', 1, 2, 40)];
    for (const r of all) h.source.next([r]);
    for (let i = 0; i < 3; i++) {
      model.pending().forEach((r) => r.release());
      await flush();
    }
    assert.deepEqual(runUris(model, all), [['a'], ['b', 'd'], ['c']]);
    for (const r of model.runs) assert.ok(r.shape[0]! <= 3, `a run of ${r.shape[0]} rows exceeds maxSize`);
    h.emitted.flat().forEach((res) => assertOk(res, all.find((r) => r.uri === res.uri)!));
  });

  test('batches with different shapes are not merged', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 10 });
    const all = [req('a', 1, 2, 0), req('w2', 1, 2, 10), req('w3', 1, 3, 20), req('w2b', 2, 2, 30)];
    for (const r of all) h.source.next([r]);
    for (let i = 0; i < 3; i++) {
      model.pending().forEach((r) => r.release());
      await flush();
    }
    assert.deepEqual(runUris(model, all), [['a'], ['w2', 'w2b'], ['w3']]);
    assert.deepEqual(model.runs.map((r) => r.shape), [[1, 2], [3, 2], [1, 3]]);
    assert.equal(h.emitted.flat().length, 4);
    h.emitted.flat().forEach((res) => assertOk(res, all.find((r) => r.uri === res.uri)!));
  });

  test('a batch larger than maxSize on its own still runs, whole', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 2 });
    const big = [req('a', 2, 2, 0), req('b', 2, 2, 10)];
    h.source.next(big);
    await flush();
    assert.deepEqual(model.runs.map((r) => r.shape), [[4, 2]]);
    assert.equal(h.emitted.length, 1);
    h.emitted[0]!.forEach((res, i) => assertOk(res, big[i]!));
  });

  test('empty batches are ignored', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 4 });
    h.source.next([]);
    h.source.complete();
    await flush();
    assert.equal(model.runs.length, 0);
    assert.deepEqual(h.emitted, []);
    assert.ok(h.state.completed);
  });

  test('the batch input is built in buffers from model.allocateInput', async () => {
    const model = new DoublingModel(1, false);
    harness(model, { maxSize: 4 }).source.next([req('a', 1, 2, 0), req('b', 2, 2, 10)]);
    await flush();
    assert.equal(model.runs.length, 1);
    assert.ok(model.allocated.some((b) => b.buffer === model.runs[0]!.feedBuffer), 'feed data lies in an allocated buffer');
    assert.ok(model.allocated.every((b) => b.byteLength === 3 * 2 * 4), 'one allocation of exactly the batch bytes');
  });

  test('onRun reports the rows of each run', async () => {
    const model = new DoublingModel(1, true);
    const seen: number[] = [];
    const h = harness(model, { maxSize: 8, onRun: (rows, ms) => (assert.ok(ms >= 0), seen.push(rows)) });
    h.source.next([req('a', 2, 2, 0)]);
    h.source.next([req('b', 1, 2, 10)]);
    h.source.next([req('c', 3, 2, 20)]);
    for (let i = 0; i < 2; i++) {
      model.pending().forEach((r) => r.release());
      await flush();
    }
    assert.deepEqual(seen, [2, 4]);
  });
});

describe('infer: concurrency', () => {
  for (const concurrency of [1, 2]) {
    test(`at most concurrency=${concurrency} runs at once, the next starts when one ends`, async () => {
      const model = new DoublingModel(concurrency, true);
      const h = harness(model, { maxSize: 1 }); // maxSize 1: queued batches cannot merge
      const all = ['a', 'b', 'c', 'd', 'e'].map((u, i) => req(u, 1, 2, i * 10));
      for (const r of all) h.source.next([r]);
      assert.equal(model.active, concurrency);
      assert.equal(model.runs.length, concurrency);
      model.runs[0]!.release();
      await flush();
      assert.equal(model.runs.length, concurrency + 1, 'one ended, one more started');
      assert.equal(model.active, concurrency);
      while (model.pending().length > 0) {
        model.pending()[0]!.release();
        await flush();
      }
      assert.equal(model.runs.length, 5);
      assert.equal(model.maxActive, concurrency);
      assert.deepEqual(h.emitted.flat().map((r) => r.uri).sort(), ['a', 'b', 'c', 'd', 'e']);
    });
  }

  test('results are emitted in completion order, one array per run', async () => {
    const model = new DoublingModel(2, true);
    const h = harness(model, { maxSize: 1 });
    const a = req('a', 1, 2, 0);
    const b = req('b', 1, 2, 10);
    h.source.next([a]);
    h.source.next([b]);
    model.runs[1]!.release();
    await flush();
    model.runs[0]!.release();
    await flush();
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => r.uri)), [['b'], ['a']]);
  });
});

describe('infer: splitting outputs back per request', () => {
  test('a merged run of multi-row requests gives each request its own rows of every output, in order', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 16 });
    const first = req('first', 1, 3, 100);
    const rest = [req('r2', 2, 3, 0), req('r1', 1, 3, 10), req('r3', 3, 3, 20)];
    h.source.next([first]);
    h.source.next([rest[0]!, rest[1]!]); // one upstream batch of two requests
    h.source.next([rest[2]!]);
    model.runs[0]!.release();
    await flush();
    assert.equal(model.runs.length, 2);
    assert.deepEqual(model.runs[1]!.shape, [6, 3]);
    model.runs[1]!.release();
    await flush();
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => r.uri)), [['first'], ['r2', 'r1', 'r3']]);
    assertOk(h.emitted[0]![0], first);
    h.emitted[1]!.forEach((res, i) => assertOk(res, rest[i]!));
  });

  test('per-request outputs are views of the run output (no copy)', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 8 });
    h.source.next([req('a', 1, 2, 0), req('b', 2, 2, 10)]);
    await flush();
    const [ra, rb] = h.emitted[0]!;
    assert.equal(ra!.outputs!.get('y')!.data.buffer, rb!.outputs!.get('y')!.data.buffer);
  });

  test('an output that does not follow the batch dimension makes the batch retry per request', async () => {
    const model = new DoublingModel(1, false);
    model.fixedOutputRows = 1;
    const h = harness(model, { maxSize: 8 });
    const a = req('a', 1, 2, 0);
    const b = req('b', 1, 2, 10);
    h.source.next([a, b]);
    await flush();
    assert.deepEqual(model.runs.map((r) => r.shape), [[2, 2], [1, 2], [1, 2]]);
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => r.uri)), [['a', 'b']]);
    h.emitted[0]!.forEach((res, i) => assertOk(res, [a, b][i]!));
  });
});

describe('infer: failures', () => {
  test('a failing batch of several requests is retried one by one: only the failing request gets CS_ERR_INFERENCE', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 8 });
    const a = req('a', 1, 2, 0);
    const bad = poisoned('bad');
    const c = req('c', 2, 2, 10);
    h.source.next([a, bad, c]);
    await flush();
    assert.deepEqual(model.runs.map((r) => r.shape[0]), [4, 1, 1, 2], 'the batch, then each request alone');
    assert.equal(h.emitted.length, 1, 'one array for the one batch');
    const [ra, rbad, rc] = h.emitted[0]!;
    assertOk(ra, a);
    assert.equal(rbad!.uri, 'bad');
    assert.deepEqual(rbad!.ref, bad.ref);
    assert.equal(rbad!.replyTo, bad.replyTo);
    assert.equal(rbad!.outputs, undefined);
    assert.equal(rbad!.error?.code, 'CS_ERR_INFERENCE');
    assert.match(rbad!.error!.message, /poisoned input/);
    assertOk(rc, c);
    assert.equal(h.state.error, undefined, 'the stream lives on');
  });

  test('requests merged from queued batches are retried one by one as well', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 8 });
    const first = req('first', 1, 2, 100);
    const a = req('a', 1, 2, 0);
    const bad = poisoned('bad');
    h.source.next([first]);
    h.source.next([a]);
    h.source.next([bad]);
    model.runs[0]!.release();
    await flush();
    while (model.pending().length > 0) {
      model.pending().forEach((r) => r.release());
      await flush();
    }
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => [r.uri, r.error?.code ?? 'ok'])), [
      [['first', 'ok']],
      [
        ['a', 'ok'],
        ['bad', 'CS_ERR_INFERENCE'],
      ],
    ]);
  });

  test('a failing single request fails once, without a retry', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 8 });
    h.source.next([poisoned('bad')]);
    await flush();
    assert.equal(model.runs.length, 1);
    assert.equal(h.emitted[0]![0]!.error?.code, 'CS_ERR_INFERENCE');
  });

  test('a rejection with a non-Error value, or a CS_ERR_INTERNAL error, is reported as CS_ERR_INFERENCE', async () => {
    for (const failWith of ['a string', new ClusterServingError('CS_ERR_INTERNAL', 'internal thing')]) {
      const model = new DoublingModel(1, false);
      model.failWith = failWith;
      const h = harness(model, { maxSize: 8 });
      h.source.next([poisoned('bad')]);
      await flush();
      const err = h.emitted[0]![0]!.error;
      assert.equal(err?.code, 'CS_ERR_INFERENCE');
      assert.match(err!.message, /a string|internal thing/);
    }
  });

  test('a typed error from the runtime keeps its code (e.g. CS_ERR_CLOSED)', async () => {
    const model = new DoublingModel(1, false);
    model.failWith = new ClusterServingError('CS_ERR_CLOSED', 'model is closed');
    const h = harness(model, { maxSize: 8 });
    h.source.next([poisoned('bad')]);
    await flush();
    assert.deepEqual(h.emitted[0]![0]!.error, { code: 'CS_ERR_CLOSED', message: 'model is closed' });
  });

  test(
    'retries of a failed batch respect the concurrency limit',
    async () => {
      const model = new DoublingModel(1, true);
      const h = harness(model, { maxSize: 8 });
      h.source.next([req('a', 1, 2, 0), poisoned('bad'), req('c', 1, 2, 10)]);
      model.runs[0]!.release();
      await flush();
      assert.ok(model.active <= 1, `${model.active} runs at once on a model of concurrency 1`);
      while (model.pending().length > 0) {
        model.pending().forEach((r) => r.release());
        await flush();
      }
      assert.equal(model.maxActive, 1);
      assert.equal(h.emitted.length, 1);
    },
  );
});

describe('infer: lifecycle', () => {
  test('completion waits for running batches', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 8 });
    const a = req('a');
    h.source.next([a]);
    h.source.complete();
    await flush();
    assert.equal(h.state.completed, false, 'not complete while a run is pending');
    model.runs[0]!.release();
    await flush();
    assert.equal(h.emitted.length, 1);
    assertOk(h.emitted[0]![0], a);
    assert.equal(h.state.completed, true);
  });

  test('completion waits for queued batches too', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 1 });
    h.source.next([req('a', 1, 2, 0)]);
    h.source.next([req('b', 1, 2, 10)]);
    h.source.complete();
    model.runs[0]!.release();
    await flush();
    assert.equal(h.state.completed, false, 'b is still running');
    assert.equal(model.runs.length, 2);
    model.runs[1]!.release();
    await flush();
    assert.deepEqual(h.emitted.map((batch) => batch.map((r) => r.uri)), [['a'], ['b']]);
    assert.equal(h.state.completed, true);
  });

  test('an empty source completes at once; synchronous sources work', async () => {
    const model = new DoublingModel(2, false);
    const out: InferenceResult[][] = [];
    let done = false;
    of([req('a', 1, 2, 0)], [req('b', 1, 2, 10)], [req('c', 1, 2, 20)])
      .pipe(infer(model, { maxSize: 4 }))
      .subscribe({ next: (v) => out.push(v), complete: () => (done = true) });
    await flush();
    assert.ok(done);
    assert.deepEqual(out.flat().map((r) => r.uri).sort(), ['a', 'b', 'c']);

    let emptyDone = false;
    of<InferenceRequest[]>().pipe(infer(model, { maxSize: 4 })).subscribe({ complete: () => (emptyDone = true) });
    assert.ok(emptyDone);
  });

  test('an upstream error propagates', async () => {
    const model = new DoublingModel(1, false);
    let error: unknown;
    throwError(() => new Error('upstream broke'))
      .pipe(infer(model, { maxSize: 4 }))
      .subscribe({ error: (e: unknown) => (error = e) });
    assert.match(String(error), /upstream broke/);
  });

  test('after unsubscribe nothing is emitted and queued batches do not start', async () => {
    const model = new DoublingModel(1, true);
    const h = harness(model, { maxSize: 1 });
    h.source.next([req('a', 1, 2, 0)]);
    h.source.next([req('b', 1, 2, 10)]);
    h.subscription.unsubscribe();
    assert.equal(h.source.observed, false, 'unsubscribed from the source');
    model.runs[0]!.release();
    await flush();
    assert.equal(model.runs.length, 1, 'b never ran');
    assert.deepEqual(h.emitted, []);
    assert.equal(h.state.completed, false);
  });
});

describe('infer: compact wire dtypes', () => {
  test('float32, uint8 (normalised) and float16 requests of a float32 input run as one float32 batch', async () => {
    const model = new DoublingModel(1, false);
    const normalize = { scale: 0.5, mean: [1], std: [2], channelAxis: 1 };
    const h = harness(model, { maxSize: 8, normalize });
    const a = req('a', 1, 2, 3);
    const b: InferenceRequest = { ...req('b'), inputs: new Map([['x', tensorFrom(Uint8Array.from([10, 255, 0, 7]), [2, 2], 'uint8')]]) };
    const c: InferenceRequest = { ...req('c'), inputs: new Map([['x', tensorFrom(toFloat16([0.1, -2.5]), [1, 2])]]) };
    h.source.next([a, b, c]);
    await flush();
    assert.equal(model.runs.length, 1, 'one run');
    const bValues = [10, 255, 0, 7].map((v) => (v * 0.5 - 1) / 2);
    const cValues = [Math.fround(0.0999755859375), -2.5]; // 0.1 as float16
    assert.deepEqual(model.runs[0]!.shape, [4, 2]);
    assert.deepEqual(model.runs[0]!.values, [3, 4, ...bValues, ...cValues]);
    const [ra, rb, rc] = h.emitted[0]!;
    assertOk(ra, a);
    assert.deepEqual(floats(rb!.outputs!.get('y')), bValues.map((v) => 2 * v));
    assert.deepEqual(floats(rc!.outputs!.get('y')), cValues.map((v) => 2 * v));
  });

  test('a tensor that cannot become the input dtype (a user step changed it) fails its request alone', async () => {
    const model = new DoublingModel(1, false);
    const h = harness(model, { maxSize: 8 });
    const a = req('a', 1, 2, 3);
    const bad: InferenceRequest = { ...req('bad'), inputs: new Map([['x', tensorFrom(Int32Array.from([1, 2]), [1, 2])]]) };
    const c = req('c', 1, 2, 30);
    h.source.next([a, bad, c]);
    await flush();
    assert.equal(h.state.error, undefined, 'the stream goes on');
    const results = h.emitted.flat();
    assertOk(results.find((r) => r.uri === 'a'), a);
    assertOk(results.find((r) => r.uri === 'c'), c);
    const failed = results.find((r) => r.uri === 'bad');
    assert.equal(failed?.error?.code, 'CS_ERR_INFERENCE');
    assert.match(failed!.error!.message, /int32 tensor cannot be converted to float32/);
  });
});
