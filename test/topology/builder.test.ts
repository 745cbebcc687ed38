import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, from, map, toArray, type OperatorFunction } from 'rxjs';
import { TopologyError } from '../../src/errors/cluster-serving-error';
import type { InferenceRequest, InferenceResult } from '../../src/tensor/records';
import { tensorFrom } from '../../src/tensor/tensor';
import { toTopology, topology } from '../../src/topology/builder';

const request: InferenceRequest = {
  kind: 'request',
  uri: 'u1',
  ref: { split: 's0', entryId: '1-0' },
  replyTo: undefined,
  inputs: new Map([['input', tensorFrom(new Float32Array(16), [1, 16])]]),
  receivedAt: 0,
};

const result: InferenceResult = {
  kind: 'result',
  uri: 'u1',
  ref: { split: 's0', entryId: '1-0' },
  replyTo: undefined,
  outputs: new Map([['output', tensorFrom(new Float32Array([1, 2, 3]), [1, 3])]]),
  error: undefined,
  receivedAt: 0,
};

/** Everything `operator` emits for `values`. */
function run<T>(operator: OperatorFunction<T, T>, ...values: T[]): Promise<T[]> {
  return firstValueFrom(from(values).pipe(operator, toArray()));
}

function problemsOf(value: unknown): readonly string[] {
  try {
    toTopology(value);
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected toTopology to throw');
}

const full = topology('tiny-custom')
  .source({ type: 'redis', stream: 'tiny-custom' })
  .decode({ type: 'tensor' })
  .map('scale-input', (req) => req)
  .batch({ maxSize: 32, maxDelayMs: 2 })
  .infer({ path: '../models/tiny.onnx', threads: 1 })
  .postprocess('softmax')
  .map('label', (res) => res)
  .pipe('rx-step', map((res) => res))
  .sink({ type: 'redis', resultTtlMs: 60000 })
  .parallelism(2);

test('the builder records the spec and the steps in order', () => {
  const t = toTopology(full);
  assert.equal(t.spec.name, 'tiny-custom');
  assert.deepEqual(t.spec.source, { type: 'redis', stream: 'tiny-custom', partitions: 1, protocol: 'native', readCount: 512, maxDeliveries: 3, bigdlConvention: '2.x' });
  assert.deepEqual(t.spec.batch, { maxSize: 32, maxDelayMs: 2 });
  assert.deepEqual(t.spec.model, { path: '../models/tiny.onnx', runtime: 'onnx', threads: 1, instances: 1, spinning: false });
  assert.deepEqual(t.spec.postprocess, { type: 'softmax' });
  assert.equal(t.spec.sink.type === 'redis' && t.spec.sink.resultTtlMs, 60000);
  assert.equal(t.spec.parallelism, 2);
  assert.deepEqual(t.requestSteps.map((s) => s.name), ['scale-input']);
  assert.deepEqual(t.resultSteps.map((s) => s.name), ['label', 'rx-step']);
});

test('sink, decode, batch and postprocess are optional', () => {
  const t = toTopology(topology('short').source({ type: 'redis' }).infer({ path: '/m.onnx' }));
  assert.deepEqual(t.spec.decode, { type: 'tensor', maxRequestBytes: 64 * 1024 * 1024 });
  assert.deepEqual(t.spec.batch, { maxSize: 32, maxDelayMs: 5 });
  assert.deepEqual(t.spec.postprocess, { type: 'none' });
  assert.equal(t.spec.sink.type, 'redis');
  assert.deepEqual(t.requestSteps, []);
  assert.deepEqual(t.resultSteps, []);
});

test('plain functions become map operators; RxJS operators are kept as given', async () => {
  const scaled = topology('steps')
    .source({ type: 'redis' })
    .map('rename', (req) => ({ ...req, uri: `${req.uri}-seen` }))
    .infer({ path: '/m.onnx' })
    .map('tag', (res) => ({ ...res, uri: `${res.uri}-tagged` }))
    .pipe('rx', map((res) => ({ ...res, uri: `${res.uri}-rx` })));
  const t = toTopology(scaled);
  const [reqStep] = t.requestSteps;
  const [tag, rx] = t.resultSteps;
  assert.ok(reqStep && tag && rx);
  assert.deepEqual((await run(reqStep.operator, request)).map((r) => r.uri), ['u1-seen']);
  assert.deepEqual((await run(tag.operator, result)).map((r) => r.uri), ['u1-tagged']);
  assert.deepEqual((await run(rx.operator, result, result)).map((r) => r.uri), ['u1-rx', 'u1-rx']);
});

test('filter steps emit nothing for rejected records (the TaskManager turns that into an error result)', async () => {
  const t = toTopology(topology('f').source({ type: 'redis' }).filter('has-input', (req) => req.inputs.has('nope')).infer({ path: '/m.onnx' }));
  const [step] = t.requestSteps;
  assert.ok(step);
  assert.deepEqual(await run(step.operator, request), []);
});

test('stages are immutable: branching from one stage leaves the other branch alone', () => {
  const base = topology('branch').source({ type: 'redis' }).infer({ path: '/m.onnx' });
  const a = base.map('a', (res) => res);
  const b = base.map('b', (res) => res).parallelism(3);
  assert.deepEqual(toTopology(base).resultSteps, []);
  assert.deepEqual(toTopology(a).resultSteps.map((s) => s.name), ['a']);
  assert.deepEqual(toTopology(b).resultSteps.map((s) => s.name), ['b']);
  assert.equal(toTopology(a).spec.parallelism, 1);
  assert.equal(toTopology(b).spec.parallelism, 3);
});

test('a function returning a builder and a plain topology object are accepted', () => {
  assert.equal(toTopology(() => full).spec.name, 'tiny-custom');
  const t = toTopology({ name: 'plain', source: { type: 'redis' }, model: { path: '/m.onnx' } });
  assert.equal(t.spec.name, 'plain');
  assert.deepEqual(t.resultSteps, []);
});

test('schema problems of builder values are listed by field path, with step problems', () => {
  const bad = topology('bad name')
    .source({ type: 'redis', partitions: 0 })
    .map('dup', (req) => req)
    .batch({ maxSize: 0 })
    .infer({ path: '/m.onnx' })
    .map('dup', (res) => res)
    .map('', (res) => res);
  assert.deepEqual(problemsOf(bad), [
    'name: letters, digits, "-", "_" and "." only, at most 100',
    'source.partitions: Too small: expected number to be >=1',
    'batch.maxSize: Too small: expected number to be >=1',
    'steps.dup: duplicate step name; names must be unique within a topology',
    'steps[2]: a step needs a non-empty name',
  ]);
});

test('an incomplete builder lists what is missing', () => {
  assert.deepEqual(problemsOf(topology('x')), [
    "source: missing required field (expected object); add .source({ type: 'redis' })",
    "model: missing required field (expected object); add .infer({ path: 'model.onnx' })",
  ]);
  assert.deepEqual(problemsOf(topology('x').source({ type: 'redis' })), ["model: missing required field (expected object); add .infer({ path: 'model.onnx' })"]);
});

test('values that are not topologies are refused', () => {
  assert.match(problemsOf(undefined)[0] ?? '', /expected a topology builder/);
  assert.match(problemsOf(42)[0] ?? '', /expected a topology builder .*, got number/);
  assert.match(problemsOf(async () => full)[0] ?? '', /not a Promise/);
});

test('the stage types guide the user (checked by tsc, never run)', () => {
  const typeChecks = (): void => {
    const src = topology('t').source({ type: 'redis' });
    // Request steps see InferenceRequest, result steps see InferenceResult.
    src.map('r', (req) => ({ ...req, inputs: req.inputs }));
    src.infer({ path: 'm' }).map('o', (res) => ({ ...res, outputs: res.outputs }));
    // @ts-expect-error a request step must return a request
    src.map('r', (req) => req.inputs);
    // @ts-expect-error a result step must return a result
    src.infer({ path: 'm' }).map('o', (res: InferenceResult) => res.outputs);
    // @ts-expect-error nothing but infer follows batch
    src.batch({ maxSize: 1 }).map('x', (req) => req);
    // @ts-expect-error postprocess comes right after infer, before result steps
    src.infer({ path: 'm' }).map('o', (res) => res).postprocess('softmax');
    // @ts-expect-error decode comes right after source
    src.map('r', (req) => req).decode({ type: 'tensor' });
    // @ts-expect-error no sink before infer
    src.sink({ type: 'redis' });
    // @ts-expect-error unknown postprocess
    src.infer({ path: 'm' }).postprocess('sigmoid');
    // @ts-expect-error the model needs a path
    src.infer({ threads: 1 });
  };
  assert.equal(typeof typeChecks, 'function');
});

test('decode takes a normalisation for uint8 tensors sent to float32 inputs', () => {
  const t = toTopology(
    topology('compact')
      .source({ type: 'redis' })
      .decode({ type: 'tensor', normalize: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelAxis: -1 } })
      .infer({ path: '/m/cnn.onnx' }),
  );
  assert.deepEqual(t.spec.decode, { type: 'tensor', maxRequestBytes: 64 * 1024 * 1024, normalize: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelAxis: -1 } });
  assert.throws(
    () => toTopology(topology('compact').source({ type: 'redis' }).decode({ type: 'tensor', normalize: { std: [0] } }).infer({ path: '/m/cnn.onnx' })),
    (err: unknown) => err instanceof TopologyError && err.problems.some((p) => p.startsWith('decode.normalize.std[0]: ')),
  );
});
