import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError } from '../../src/errors/cluster-serving-error';
import { checkSpec, formatFieldPath, validateSpec } from '../../src/topology/validate-spec';

const minimal = { name: 'tiny', source: { type: 'redis' }, model: { path: '/models/tiny.onnx' } };

/** The problems validateSpec throws for `input` (fails the test when it does not throw). */
function problemsOf(input: unknown): readonly string[] {
  try {
    validateSpec(input);
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected validateSpec to throw');
}

test('a minimal topology gets every default filled in', () => {
  const spec = validateSpec(minimal);
  assert.equal(spec.name, 'tiny');
  assert.deepEqual(spec.source, { type: 'redis', partitions: 1, protocol: 'native', readCount: 512, maxDeliveries: 3, bigdlConvention: '2.x' });
  assert.deepEqual(spec.decode, { type: 'tensor', maxRequestBytes: 64 * 1024 * 1024 });
  assert.deepEqual(spec.batch, { maxSize: 32, maxDelayMs: 5 });
  assert.deepEqual(spec.model, { path: '/models/tiny.onnx', runtime: 'onnx', threads: 1, instances: 1, spinning: false });
  assert.deepEqual(spec.postprocess, { type: 'none' });
  assert.equal(spec.sink.type, 'redis');
  assert.equal(spec.parallelism, 1);
});

test('postprocess accepts the shorthand name and the object form', () => {
  assert.deepEqual(validateSpec({ ...minimal, postprocess: 'softmax' }).postprocess, { type: 'softmax' });
  assert.deepEqual(validateSpec({ ...minimal, postprocess: { type: 'topN' } }).postprocess, { type: 'topN', n: 5 });
  assert.deepEqual(validateSpec({ ...minimal, postprocess: { type: 'topN', n: 3 } }).postprocess, { type: 'topN', n: 3 });
});

test('a value out of range is named by its field path', () => {
  assert.deepEqual(problemsOf({ ...minimal, batch: { maxSize: 0 } }), ['batch.maxSize: Too small: expected number to be >=1']);
});

test('an unknown field is a problem named by its own path, with a suggestion', () => {
  assert.deepEqual(problemsOf({ ...minimal, model: { path: '/m.onnx', pathh: '/m.onnx' } }), ['model.pathh: unknown field (did you mean "path"?)']);
  assert.deepEqual(problemsOf({ ...minimal, parallelizm: 2 }), ['parallelizm: unknown field (did you mean "parallelism"?)']);
  assert.deepEqual(problemsOf({ ...minimal, batch: { zzz: 1 } }), ['batch.zzz: unknown field (known fields: maxSize, maxDelayMs)']);
});

test('unknown fields inside a union branch are checked against that branch', () => {
  assert.deepEqual(problemsOf({ ...minimal, source: { type: 'kafka', brokers: ['b:9092'], topic: 't', stream: 's' } }), [
    'source.stream: unknown field (known fields: type, brokers, topic, partitions, protocol)',
  ]);
});

test('every problem is listed, not only the first', () => {
  const problems = problemsOf({
    name: 'bad name!',
    source: { type: 'rediss' },
    batch: { maxSize: 0, maxDelayMs: 'soon' },
    model: { pathh: 'm.onnx', threads: 2.5 },
    postprocess: 'sigmoid',
    extra: true,
  });
  assert.deepEqual(problems, [
    'name: letters, digits, "-", "_" and "." only, at most 100',
    "source.type: Invalid discriminator value. Expected 'redis' | 'kafka'",
    'batch.maxSize: Too small: expected number to be >=1',
    'batch.maxDelayMs: Invalid input: expected number, received string',
    'model.path: missing required field (expected string)',
    'model.threads: Invalid input: expected int, received number',
    'model.pathh: unknown field (did you mean "path"?)',
    "postprocess.type: Invalid discriminator value. Expected 'none' | 'softmax' | 'argmax' | 'topN'",
    'extra: unknown field (known fields: name, source, decode, batch, model, postprocess, sink, parallelism, tensorboard)',
  ]);
});

test('array elements are named by index', () => {
  assert.deepEqual(problemsOf({ ...minimal, source: { type: 'kafka', brokers: ['a:9092', 3], topic: 't' } }), [
    'source.brokers[1]: Invalid input: expected string, received number',
  ]);
});

test('missing required fields and a non-object are reported', () => {
  assert.deepEqual(problemsOf({ name: 'x' }), ['source: missing required field (expected object)', 'model: missing required field (expected object)']);
  assert.deepEqual(problemsOf('name: x'), ['(root): Invalid input: expected object, received string']);
  assert.deepEqual(problemsOf(null), ['(root): Invalid input: expected object, received null']);
});

test('the TopologyError carries the code and lists every problem in its message', () => {
  try {
    validateSpec({ name: 'x', source: { type: 'redis' }, model: { path: '' }, parallelism: 0 });
    assert.fail('expected a TopologyError');
  } catch (err) {
    assert.ok(err instanceof TopologyError);
    assert.equal(err.code, 'CS_ERR_TOPOLOGY');
    assert.equal(err.retriable, false);
    assert.equal(err.problems.length, 2);
    for (const p of err.problems) assert.ok(err.message.includes(p), `message lists ${p}`);
    assert.match(err.message, /model\.path: /);
    assert.match(err.message, /parallelism: /);
  }
});

test('checkSpec returns problems with their paths instead of throwing', () => {
  const check = checkSpec({ ...minimal, batch: { maxSize: -1 } });
  assert.equal(check.ok, false);
  if (check.ok) return;
  assert.deepEqual(check.problems.map((p) => p.path), [['batch', 'maxSize']]);
  assert.equal(check.problems[0]?.message, 'Too small: expected number to be >=1');
});

test('formatFieldPath joins keys with dots and indexes with brackets', () => {
  assert.equal(formatFieldPath([]), '(root)');
  assert.equal(formatFieldPath(['batch', 'maxSize']), 'batch.maxSize');
  assert.equal(formatFieldPath(['source', 'brokers', 0]), 'source.brokers[0]');
});

test('decode.normalize (uint8 tensors for float32 inputs): defaults, and every problem by field path', () => {
  const spec = validateSpec({ ...minimal, decode: { type: 'tensor', normalize: { scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } } });
  assert.deepEqual(spec.decode, { type: 'tensor', maxRequestBytes: 64 * 1024 * 1024, normalize: { scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelAxis: 1 } });
  assert.deepEqual(validateSpec({ ...minimal, decode: { type: 'tensor', normalize: {} } }).decode, { type: 'tensor', maxRequestBytes: 64 * 1024 * 1024, normalize: { scale: 1, mean: [0], std: [1], channelAxis: 1 } });
  const plain = validateSpec(minimal).decode;
  assert.ok(plain.type === 'tensor' && plain.normalize === undefined, 'no normalisation unless asked: uint8 is cast');

  const problems = problemsOf({ ...minimal, decode: { type: 'tensor', normalize: { scale: 0, mean: [], std: [1, 0], channelAxs: 3 } } });
  assert.ok(problems.some((p) => p.startsWith('decode.normalize.scale: ')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('decode.normalize.mean: ')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('decode.normalize.std[1]: ')), problems.join('\n'));
  assert.ok(problems.includes('decode.normalize.channelAxs: unknown field (did you mean "channelAxis"?)'), problems.join('\n'));
  assert.deepEqual(problemsOf({ ...minimal, decode: { type: 'tensor', normalize: { mean: [1, 2, 3], std: [1, 2] } } }), ['decode.normalize.std: mean has 3 values and std 2: give one per channel, or one for all channels']);
  const image = problemsOf({ ...minimal, decode: { type: 'image', width: 8, height: 8, normalize: {} } });
  assert.equal(image.length, 1);
  assert.match(image[0]!, /^decode\.normalize: unknown field/, 'decode: image has its own scale, mean and std');
});
