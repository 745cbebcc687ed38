import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { firstValueFrom, from, toArray, type OperatorFunction } from 'rxjs';
import { TopologyError } from '../../src/errors/cluster-serving-error';
import type { InferenceRequest, InferenceResult } from '../../src/tensor/records';
import { tensorFrom, toTypedArray } from '../../src/tensor/tensor';
import { loadTopologyFile, loadTopologySource } from '../../src/topology/load-topology';
import { packageRoot } from '../../src/package-root';

// Paths from the package root, so the suite runs the same from test/ (ts-node) and dist/test/ (compiled).
const root = packageRoot();
const topologies = join(root, 'topologies');
const fixtures = join(root, 'test', 'fixtures', 'topologies');

async function problemsOf(load: Promise<unknown>): Promise<readonly string[]> {
  try {
    await load;
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    assert.equal(err.code, 'CS_ERR_TOPOLOGY');
    return err.problems;
  }
  assert.fail('expected the topology to be refused');
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-topology-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run<T>(operator: OperatorFunction<T, T>, value: T): Promise<T[]> {
  return firstValueFrom(from([value]).pipe(operator, toArray()));
}

test('tiny.yaml loads, with the model path made absolute', async () => {
  const loaded = await loadTopologyFile(join(topologies, 'tiny.yaml'));
  const { spec } = loaded.topology;
  assert.equal(spec.name, 'tiny');
  assert.equal(spec.model.path, join(root, 'models', 'tiny.onnx'));
  assert.deepEqual(spec.batch, { maxSize: 32, maxDelayMs: 2 });
  assert.equal(loaded.baseDir, topologies);
  assert.equal(loaded.source, await readFile(join(topologies, 'tiny.yaml'), 'utf8'));
  assert.deepEqual(loaded.topology.requestSteps, []);
  assert.deepEqual(loaded.topology.resultSteps, []);
});

test('cnn.yaml loads', async () => {
  const { spec } = (await loadTopologyFile(join(topologies, 'cnn.yaml'))).topology;
  assert.equal(spec.name, 'cnn');
  assert.equal(spec.model.path, join(root, 'models', 'cnn.onnx'));
  assert.equal(spec.model.threads, 2);
  assert.equal(spec.batch.maxSize, 8);
});

test('an unknown field is refused, named by its path and line', async () => {
  assert.deepEqual(await problemsOf(loadTopologyFile(join(fixtures, 'unknown-field.yaml'))), [
    'model.path: missing required field (expected string) (unknown-field.yaml:5:1)',
    'model.pathh: unknown field (did you mean "path"?) (unknown-field.yaml:6:3)',
  ]);
});

test('wrong types are refused, every one of them', async () => {
  assert.deepEqual(await problemsOf(loadTopologyFile(join(fixtures, 'wrong-type.yaml'))), [
    'batch.maxSize: Invalid input: expected number, received string (wrong-type.yaml:6:3)',
    'model.threads: Invalid input: expected number, received string (wrong-type.yaml:9:3)',
  ]);
});

test('a file with several problems lists all of them by field path', async () => {
  const problems = await problemsOf(loadTopologyFile(join(fixtures, 'many-problems.yaml')));
  assert.deepEqual(
    problems.map((p) => p.split(':')[0]),
    ['name', 'source.type', 'batch.maxSize', 'batch.maxDelayMs', 'model.instancess', 'postprocess.type'],
  );
  assert.ok(problems.every((p) => / \(many-problems\.yaml:\d+:\d+\)$/.test(p)), problems.join('\n'));
});

test('YAML syntax errors are refused with their lines', async () => {
  assert.deepEqual(await problemsOf(loadTopologyFile(join(fixtures, 'syntax-error.yaml'))), [
    'syntax-error.yaml:4:1: Flow map in block collection must be sufficiently indented and end with a }',
    'syntax-error.yaml:6:1: Map keys must be unique',
  ]);
});

test('an empty, missing or unsupported file is refused with one clear line', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'empty.yaml'), '# nothing\n');
    assert.deepEqual(await problemsOf(loadTopologyFile(join(dir, 'empty.yaml'))), [
      'empty.yaml: the file is empty; a topology needs at least name, source and model',
    ]);
    assert.deepEqual(await problemsOf(loadTopologyFile(join(dir, 'missing.yaml'))), [`${join(dir, 'missing.yaml')}: no such file`]);
    await writeFile(join(dir, 'job.json'), '{}');
    assert.deepEqual(await problemsOf(loadTopologyFile(join(dir, 'job.json'))), [`${join(dir, 'job.json')}: a topology file ends in .yaml, .yml or .ts`]);
  });
});

test('the TypeScript example type-checks, loads, and its steps are present and work', async () => {
  const loaded = await loadTopologyFile(join(topologies, 'tiny-custom.ts'), { typecheck: true });
  const { spec, requestSteps, resultSteps } = loaded.topology;
  assert.equal(spec.name, 'tiny-custom');
  assert.equal(spec.model.path, join(root, 'models', 'tiny.onnx'));
  assert.deepEqual(spec.batch, { maxSize: 32, maxDelayMs: 2 });
  assert.equal(spec.sink.type === 'redis' && spec.sink.resultTtlMs, 60000);
  assert.deepEqual(requestSteps.map((s) => s.name), ['require-input']);
  assert.deepEqual(resultSteps.map((s) => s.name), ['append-sum', 'append-argmax']);

  const [requireInput] = requestSteps;
  const [appendSum, appendArgmax] = resultSteps;
  assert.ok(requireInput && appendSum && appendArgmax);
  const ref = { split: 's0', entryId: '1-0' };
  const good: InferenceRequest = {
    kind: 'request', uri: 'u', ref, replyTo: undefined, receivedAt: 0,
    inputs: new Map([['input', tensorFrom(new Float32Array(16), [1, 16])]]),
  };
  assert.deepEqual(await run(requireInput.operator, good), [good]);
  await assert.rejects(run(requireInput.operator, { ...good, inputs: new Map() }), /needs a float32 tensor named "input"/);

  const output = new Float32Array([0.5, -1, 2, 0.25, 3.5, 0, -2, 1]);
  const result: InferenceResult = {
    kind: 'result', uri: 'u', ref, replyTo: undefined, receivedAt: 0, error: undefined,
    outputs: new Map([['output', tensorFrom(output, [1, 8])]]),
  };
  const [withSum] = await run(appendSum.operator, result);
  const [withBoth] = await run(appendArgmax.operator, withSum!);
  const sum = withBoth?.outputs?.get('sum');
  const argmax = withBoth?.outputs?.get('argmax');
  assert.ok(sum && argmax);
  assert.deepEqual([...toTypedArray(sum)], [4.25]);
  assert.deepEqual(sum.shape, [1]);
  assert.deepEqual([...toTypedArray(argmax)], [4]);
  assert.equal(argmax.dtype, 'int32');
  assert.ok(withBoth?.outputs?.get('output'), 'the model output is kept');
});

test('a TypeScript topology with type errors is refused with its diagnostics', async () => {
  const source = await readFile(join(fixtures, 'type-error.ts.txt'), 'utf8');
  await withTempDir(async (dir) => {
    const file = join(dir, 'type-error.ts');
    await writeFile(file, source);
    const problems = await problemsOf(loadTopologyFile(file, { typecheck: true }));
    assert.deepEqual(problems.map((p) => p.replace(/\n[\s\S]*/, '')), [
      `${file}:10:12 - error TS2322: Type 'string' is not assignable to type 'number'.`,
      `${file}:12:21 - error TS2345: Argument of type 'OperatorFunction<InferenceResult, number>' is not assignable to parameter of type 'OperatorFunction<InferenceResult, InferenceResult>'.`,
      `${file}:12:34 - error TS18048: 'res.outputs' is possibly 'undefined'.`,
    ]);
  });
});

test('loadTopologySource runs a shipped TypeScript topology from a folder outside the package', async () => {
  const source = `
    import { topology, tensorFrom, type InferenceResult } from 'cluster-serving';
    import { map, filter } from 'rxjs';
    const mark = (res: InferenceResult): InferenceResult => ({ ...res, outputs: new Map([['mark', tensorFrom(new Float32Array([7]), [1])]]) });
    export default () =>
      topology('shipped')
        .source({ type: 'redis', stream: 'shipped' })
        .filter('non-empty', (req) => req.inputs.size > 0)
        .infer({ path: 'models/m.onnx' })
        .pipe('mark', map(mark))
        .pipe('keep', filter(() => true));
  `;
  await withTempDir(async (cache) => {
    assert.ok(relative(root, cache).startsWith('..'), 'the cache dir is outside the package');
    const loaded = await loadTopologySource({ filename: 'shipped.ts', source, baseDir: '/srv/topologies' }, cache, { typecheck: true });
    assert.equal(loaded.filename, 'shipped.ts');
    assert.equal(loaded.baseDir, '/srv/topologies');
    assert.equal(loaded.source, source);
    assert.equal(loaded.topology.spec.model.path, '/srv/topologies/models/m.onnx');
    assert.deepEqual(loaded.topology.requestSteps.map((s) => s.name), ['non-empty']);
    assert.deepEqual(loaded.topology.resultSteps.map((s) => s.name), ['mark', 'keep']);
    const files = await readdir(cache);
    assert.equal(files.length, 1);
    assert.match(files[0] ?? '', /^topology-[0-9a-f]{32}\.ts$/);
    // The same source again reuses the cached file.
    await loadTopologySource({ filename: 'shipped.ts', source, baseDir: '/srv/topologies' }, cache);
    assert.equal((await readdir(cache)).length, 1);
  });
});

test('loadTopologySource handles YAML, and its problems name the shipped file', async () => {
  await withTempDir(async (cache) => {
    const yaml = 'name: shipped\nsource: { type: redis }\nmodel: { path: m.onnx }\n';
    const loaded = await loadTopologySource({ filename: 'job.yml', source: yaml, baseDir: '/data' }, cache);
    assert.equal(loaded.topology.spec.model.path, '/data/m.onnx');
    const bad = 'name: shipped\nsource: { type: redis }\nmodel: { path: m.onnx, gpu: true }\n';
    assert.deepEqual(await problemsOf(loadTopologySource({ filename: 'job.yml', source: bad, baseDir: '/data' }, cache)), [
      'model.gpu: unknown field (known fields: path, runtime, threads, instances, spinning) (job.yml:3:24)',
    ]);
  });
});

test('TypeScript topologies that fail at load time are refused with the reason', async () => {
  await withTempDir(async (cache) => {
    const load = (source: string) => loadTopologySource({ filename: 'bad.ts', source, baseDir: cache }, cache);
    const invalidValues = `
      import { topology } from 'cluster-serving';
      export default topology('bad').source({ type: 'redis', partitions: 0 }).batch({ maxSize: 0 }).infer({ path: 'm.onnx' });
    `;
    assert.deepEqual(await problemsOf(load(invalidValues)), [
      'source.partitions: Too small: expected number to be >=1',
      'batch.maxSize: Too small: expected number to be >=1',
    ]);
    assert.match((await problemsOf(load(`throw new Error('boom at load');`)))[0] ?? '', /boom at load/);
    assert.match((await problemsOf(load(`export const x = 1;`)))[0] ?? '', /no default export/);
    assert.match((await problemsOf(load(`import { nope } from 'no-such-package-xyz'; export default nope;`)))[0] ?? '', /no-such-package-xyz/);
  });
});
