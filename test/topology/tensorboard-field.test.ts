import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError } from '../../src/errors/cluster-serving-error';
import { toTopology, topology } from '../../src/topology/builder';
import { parseYamlTopology } from '../../src/topology/load-yaml';
import { validateSpec } from '../../src/topology/validate-spec';

const minimal = { name: 'tiny', source: { type: 'redis' }, model: { path: '/models/tiny.onnx' } };

function problemsOf(input: unknown): readonly string[] {
  try {
    validateSpec(input);
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected validateSpec to throw');
}

test('tensorboard: absent (the default run), true, false, or { run: NAME }', () => {
  assert.equal(validateSpec(minimal).tensorboard, undefined);
  assert.equal(validateSpec({ ...minimal, tensorboard: true }).tensorboard, true);
  assert.equal(validateSpec({ ...minimal, tensorboard: false }).tensorboard, false);
  assert.deepEqual(validateSpec({ ...minimal, tensorboard: { run: 'resnet-prod.v2' } }).tensorboard, { run: 'resnet-prod.v2' });
});

test('a tensorboard run is one directory name, never a path', () => {
  for (const run of ['..', '../elsewhere', 'a/b', '/tmp/x', '.hidden', '', 'a\\b', 'x'.repeat(101)]) {
    const problems = problemsOf({ ...minimal, tensorboard: { run } });
    assert.equal(problems.length, 1, `${JSON.stringify(run)}: ${problems.join('; ')}`);
    assert.match(problems[0]!, /^tensorboard/, `${JSON.stringify(run)}: ${problems[0]}`);
  }
  assert.equal(problemsOf({ ...minimal, tensorboard: { run: 'x', dir: '/tmp' } }).length, 1, 'no other field');
  assert.equal(problemsOf({ ...minimal, tensorboard: 'yes' }).length, 1);
});

test('the YAML form and the builder set the same field', () => {
  const yaml = parseYamlTopology('name: tiny\nsource: { type: redis }\nmodel: { path: /models/tiny.onnx }\ntensorboard: { run: tiny-prod }\n', 'tiny.yaml');
  assert.deepEqual(yaml.tensorboard, { run: 'tiny-prod' });
  const built = toTopology(topology('tiny').source({ type: 'redis' }).infer({ path: '/models/tiny.onnx' }).tensorboard({ run: 'tiny-prod' }));
  assert.deepEqual(built.spec.tensorboard, { run: 'tiny-prod' });
  const off = toTopology(topology('tiny').source({ type: 'redis' }).infer({ path: '/m/t.onnx' }).sink({ type: 'redis' }).tensorboard(false).parallelism(2));
  assert.equal(off.spec.tensorboard, false);
  assert.equal(off.spec.parallelism, 2);
  assert.throws(() => toTopology(topology('tiny').source({ type: 'redis' }).infer({ path: '/m/t.onnx' }).tensorboard({ run: '../up' })), TopologyError);
});
