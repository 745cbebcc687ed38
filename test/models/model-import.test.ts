/**
 * `cs model import` end to end: a torchvision ResNet-18 (random weights, fixed seed, no download) saved as
 * TorchScript by Debian's /usr/bin/python3 (python3-torch, python3-torchvision), imported, then SERVED by a
 * real `cs start` (real Redis, real onnxruntime-node) and the served output compared with torch's own output;
 * a small Keras conv net exported as a SavedModel in the TensorFlow venv (test/python/ensure-tf-venv.sh →
 * .venv-tf, or CS_TEST_TF_PYTHON), imported and served the same way, compared with TensorFlow's output.
 *
 * A test skips only when its prerequisite is missing, saying what is missing; with CS_TEST_STRICT=1 a
 * missing prerequisite fails instead.
 */
import { strict as assert } from 'node:assert';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import * as ort from 'onnxruntime-node';
import { InputQueue } from '../../src/client/input-queue';
import { packageRoot } from '../../src/package-root';
import { toTypedArray } from '../../src/tensor/tensor';
import { hasStackTrace, lines, runCs, spawnCs } from '../cli/run-cs';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const TOLERANCE = 1e-4;
/** The Python with torch + torchvision that makes the test's TorchScript file: Debian's, or CS_TEST_TORCH_PYTHON. */
const TORCH_PYTHON = process.env.CS_TEST_TORCH_PYTHON ?? '/usr/bin/python3';

/** Whether `python` imports `modules`; the reason when it does not. */
function pythonHas(python: string, modules: string): { ok: true } | { ok: false; reason: string } {
  if (python.startsWith('/') && !existsSync(python)) return { ok: false, reason: `${python} does not exist` };
  const r = spawnSync(python, ['-c', `import ${modules}`], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' }, timeout: 120_000 });
  if (r.status === 0) return { ok: true };
  const last = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').pop() ?? '';
  return { ok: false, reason: `${python} cannot import ${modules} (${last})` };
}

/** Skips the test with `reason`, or fails it when CS_TEST_STRICT=1. */
function missing(t: TestContext, reason: string): void {
  if (process.env.CS_TEST_STRICT === '1') assert.fail(`missing prerequisite (CS_TEST_STRICT=1): ${reason}`);
  t.skip(reason);
}

/** Runs a Python script file with `python`, failing the test with its stderr when it fails. */
function runPython(python: string, script: string, args: readonly string[]): void {
  const r = spawnSync(python, [script, ...args], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', PYTHONDONTWRITEBYTECODE: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, `${python} ${script} failed:\n${r.stderr}${r.error ? String(r.error) : ''}`);
}

async function readFloats(path: string): Promise<Float32Array> {
  const bytes = await readFile(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'same number of values');
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The torch side: a ResNet-18 with random weights (seed 0), traced and saved; torch's output on a fixed input. */
const TORCH_SCRIPT = `
import sys
import numpy as np
import torch
import torchvision

out_pt, out_x, out_y = sys.argv[1:4]
torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval()
x = np.random.default_rng(42).standard_normal(size=(1, 3, 224, 224)).astype(np.float32)
with torch.no_grad():
    scripted = torch.jit.trace(model, torch.zeros(1, 3, 224, 224))
    scripted.save(out_pt)
    y = model(torch.from_numpy(x)).numpy().astype(np.float32)
x.tofile(out_x)
y.tofile(out_y)
`;

/** The TensorFlow side: a small Keras conv net (seed 0) exported as a SavedModel; TF's output on a fixed input. */
const TF_SCRIPT = `
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
import tensorflow as tf

out_dir, out_x, out_y = sys.argv[1:4]
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(16, 16, 3)),
    keras.layers.Conv2D(8, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(16, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10),
])
model.export(out_dir)
x = np.random.default_rng(42).standard_normal(size=(1, 16, 16, 3)).astype(np.float32)
y = model(tf.constant(x)).numpy().astype(np.float32)
x.tofile(out_x)
y.tofile(out_y)
`;

describe('cs model import (real torch / TensorFlow, served by a real cs start)', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-model-import-test-'));
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  /** Serves `model` with `cs start` and returns the output `outputName` for one request. */
  async function serve(model: string, inputName: string, data: Float32Array, shape: readonly number[], outputName: string): Promise<Float32Array> {
    const redisUrl = await testRedisUrl();
    const name = uniqueName('import');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${model}\nbatch:\n  maxDelayMs: 1\n`);
    const child = spawnCs(['start', file, '--port', '0', '--redis', redisUrl, '--cache-dir', join(dir, 'cache'), '--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '5000']);
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => stdout.includes('ready;') || child.exitCode !== null, { maxWaitMs: 60_000, what: 'cs start to be running' });
    assert.equal(child.exitCode, null, stderr);
    const queue = new InputQueue({ redis: redisUrl, stream: name });
    try {
      const outputs = await queue.predict({ [inputName]: { data, shape: [...shape] } }, { timeoutMs: 60_000 });
      const out = outputs.get(outputName);
      assert.ok(out, `served outputs: ${[...outputs.keys()].join(', ')}`);
      return Float32Array.from(toTypedArray(out) as Float32Array);
    } finally {
      await queue.close();
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
    }
  }

  it('imports a TorchScript ResNet-18 and serves it within 1e-4 of torch', async (t) => {
    const has = pythonHas(TORCH_PYTHON, 'torch, torchvision');
    if (!has.ok) return missing(t, `PyTorch (torch + torchvision) is missing: ${has.reason}; install it with apt-get install -y python3-torch python3-torchvision python3-onnx`);
    const script = join(dir, 'make_resnet.py');
    const pt = join(dir, 'resnet18.pt');
    const onnxFile = join(dir, 'out', 'resnet18.onnx');
    await writeFile(script, TORCH_SCRIPT);
    runPython(TORCH_PYTHON, script, [pt, join(dir, 'r18-x.bin'), join(dir, 'r18-y.bin')]);

    // No --python (unless CS_TEST_TORCH_PYTHON names one): the default search (python3, then /usr/bin/python3) finds the torch that has it.
    const pythonFlag = process.env.CS_TEST_TORCH_PYTHON ? ['--python', TORCH_PYTHON] : [];
    const r = await runCs(['model', 'import', '--from', 'torchscript', pt, '--out', onnxFile, '--input-shape', '1,3,224,224', '--check-samples', '3', ...pythonFlag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.includes('error'), false, r.stderr);
    const out = lines(r.stdout);
    assert.match(out[0] ?? '', /^python\s+\S+ \(torch \d/, r.stdout);
    assert.ok(out.some((l) => /^input\s+input\s+float32\s+\[-1,3,224,224\]$/.test(l)), r.stdout);
    assert.ok(out.some((l) => /^output\s+output\s+float32\s+\[-1,1000\]$/.test(l)), r.stdout);
    const checked = /^checked\s+3 samples against torch \S+: max abs difference (\S+) \(tolerance 0\.0001\)/m.exec(r.stdout);
    assert.ok(checked, r.stdout);
    assert.ok(Number(checked[1]) <= TOLERANCE, r.stdout);
    assert.ok(existsSync(onnxFile));

    const x = await readFloats(join(dir, 'r18-x.bin'));
    const expected = await readFloats(join(dir, 'r18-y.bin'));
    const served = await serve(onnxFile, 'input', x, [1, 3, 224, 224], 'output');
    const diff = maxAbsDiff(served, expected);
    assert.ok(diff <= TOLERANCE, `served vs torch: max abs difference ${diff}`);
    t.diagnostic(`served vs torch: max abs difference ${diff.toExponential(2)}`);
  });

  it('refuses a conversion whose check exceeds the tolerance: one error line, no file written', async (t) => {
    const pt = join(dir, 'resnet18.pt');
    const has = pythonHas(TORCH_PYTHON, 'torch, torchvision');
    if (!has.ok) return missing(t, `PyTorch (torch + torchvision) is missing: ${has.reason}; install it with apt-get install -y python3-torch python3-torchvision python3-onnx`);
    if (!existsSync(pt)) {
      const script = join(dir, 'make_resnet.py');
      await writeFile(script, TORCH_SCRIPT);
      runPython(TORCH_PYTHON, script, [pt, join(dir, 'r18-x.bin'), join(dir, 'r18-y.bin')]);
    }
    const onnxFile = join(dir, 'out', 'too-strict.onnx');
    const r = await runCs(['model', 'import', '--from', 'torchscript', pt, '--out', onnxFile, '--python', TORCH_PYTHON, '--check-samples', '1', '--tolerance', '0']);
    assert.notEqual(r.code, 0);
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0]!, /^error: the converted model differs from torch \S+: max abs difference \S+ > tolerance 0 \(output "output", check sample 1\); \S+too-strict\.onnx not written \(CS_ERR_MODEL_LOAD\)$/);
    assert.equal(hasStackTrace(r.stderr), false);
    assert.equal(existsSync(onnxFile), false);
  });

  it('imports an eager PyTorch module given as module.py:factory (two outputs, a named input)', async (t) => {
    const has = pythonHas(TORCH_PYTHON, 'torch');
    if (!has.ok) return missing(t, `PyTorch is missing: ${has.reason}; install it with apt-get install -y python3-torch python3-torchvision python3-onnx`);
    const moduleFile = join(dir, 'two_heads.py');
    await writeFile(
      moduleFile,
      [
        'import torch',
        '',
        'class TwoHeads(torch.nn.Module):',
        '    def __init__(self):',
        '        super().__init__()',
        '        self.body = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU())',
        '        self.scores = torch.nn.Linear(12, 4)',
        '        self.probs = torch.nn.Linear(12, 3)',
        '',
        '    def forward(self, x):',
        '        h = self.body(x)',
        '        return self.scores(h), torch.softmax(self.probs(h), dim=1)',
        '',
        'def build():',
        '    return TwoHeads()',
        '',
      ].join('\n'),
    );
    const onnxFile = join(dir, 'out', 'two-heads.onnx');
    const r = await runCs(['model', 'import', '--from', 'torch', `${moduleFile}:build`, '--out', onnxFile, '--python', TORCH_PYTHON, '--input-shape', '2,6', '--input-name', 'features']);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.ok(out.some((l) => /^input\s+features\s+float32\s+\[-1,6\]$/.test(l)), r.stdout);
    assert.ok(out.some((l) => /^output\s+output_0\s+float32\s+\[-1,4\]$/.test(l)), r.stdout);
    assert.ok(out.some((l) => /^output\s+output_1\s+float32\s+\[-1,3\]$/.test(l)), r.stdout);
    assert.match(r.stdout, /^checked\s+3 samples against torch /m);
    const session = await ort.InferenceSession.create(onnxFile);
    const x = Float32Array.from({ length: 5 * 6 }, (_, i) => Math.sin(i));
    const probs = (await session.run({ features: new ort.Tensor('float32', x, [5, 6]) })).output_1!;
    await session.release();
    assert.deepEqual(probs.dims, [5, 3], 'the batch axis is dynamic');
  });

  it('names the missing package and how to get it when the Python lacks it', async () => {
    // A stand-in interpreter that lacks every module, as a Python without torch would.
    const fake = join(dir, 'python-without-torch');
    await writeFile(fake, `#!/bin/sh\necho "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1\n`);
    await chmod(fake, 0o755);
    const r = await runCs(['model', 'import', '--from', 'torchscript', join(dir, 'any.pt'), '--out', join(dir, 'any.onnx')], { env: { CS_PYTHON: fake } });
    assert.equal(r.code, 1);
    assert.deepEqual(lines(r.stderr), [
      `error: the Python named by --python / CS_PYTHON lacks torch (${fake}: no module named torch): install it with \`apt-get install python3-torch python3-onnx (Debian, for /usr/bin/python3) or pip install torch onnx\`, or name an interpreter that has it with --python / CS_PYTHON (CS_ERR_CONFIG)`,
    ]);
    const tf = await runCs(['model', 'import', '--from', 'savedmodel', dir, '--out', join(dir, 'any.onnx'), '--python', fake]);
    assert.equal(tf.code, 1);
    assert.match(tf.stderr, /^error: the Python named by --python \/ CS_PYTHON lacks tensorflow and tf2onnx \(.*\): install it with `pip install tensorflow-cpu tf2onnx \(in a venv\)`.*\(CS_ERR_CONFIG\)\n$/);
  });

  it('lists every invalid option at once', async () => {
    const r = await runCs(['model', 'import', '--from', 'caffe', 'x', '--opset', '99', '--tolerance', 'abc']);
    assert.equal(r.code, 1);
    assert.deepEqual(lines(r.stderr), [
      'error: invalid options (CS_ERR_CONFIG)',
      '  - --from "caffe": one of torchscript, torch, savedmodel',
      '  - --out OUT.onnx is required',
      '  - --opset "99": an integer from 7 to 21',
      '  - --tolerance "abc": a number ≥ 0, e.g. 1e-4',
    ]);
  });

  it('imports a Keras SavedModel with tf2onnx and serves it within 1e-4 of TensorFlow', async (t) => {
    const python = process.env.CS_TEST_TF_PYTHON ?? join(packageRoot(), '.venv-tf', 'bin', 'python');
    const has = pythonHas(python, 'tensorflow, tf2onnx, keras');
    if (!has.ok) return missing(t, `no TensorFlow venv: ${has.reason}; create it with bash test/python/ensure-tf-venv.sh (or set CS_TEST_TF_PYTHON)`);
    const script = join(dir, 'make_keras.py');
    const saved = join(dir, 'keras-savedmodel');
    const onnxFile = join(dir, 'out', 'keras.onnx');
    await writeFile(script, TF_SCRIPT);
    runPython(python, script, [saved, join(dir, 'tf-x.bin'), join(dir, 'tf-y.bin')]);

    const r = await runCs(['model', 'import', '--from', 'savedmodel', saved, '--out', onnxFile, '--python', python]);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.match(out[0] ?? '', /^python\s+\S+ \(tensorflow \S+, tf2onnx \S+\)$/, r.stdout);
    assert.ok(out[0]!.includes(python), r.stdout);
    assert.ok(out.some((l) => /^input\s+keras_tensor\s+float32\s+\[-1,16,16,3\]$/.test(l)), r.stdout);
    assert.ok(out.some((l) => /^output\s+output_0\s+float32\s+\[-1,10\]$/.test(l)), r.stdout);
    const checked = /^checked\s+3 samples against tensorflow \S+ \(signature serving_default\): max abs difference (\S+)/m.exec(r.stdout);
    assert.ok(checked, r.stdout);
    assert.ok(Number(checked[1]) <= TOLERANCE, r.stdout);

    const x = await readFloats(join(dir, 'tf-x.bin'));
    const expected = await readFloats(join(dir, 'tf-y.bin'));
    // onnxruntime-node directly on the file, then through the server.
    const session = await ort.InferenceSession.create(onnxFile);
    const direct = (await session.run({ keras_tensor: new ort.Tensor('float32', x, [1, 16, 16, 3]) })).output_0!.data as Float32Array;
    await session.release();
    assert.ok(maxAbsDiff(direct, expected) <= TOLERANCE, `onnxruntime vs TensorFlow: ${maxAbsDiff(direct, expected)}`);
    const served = await serve(onnxFile, 'keras_tensor', x, [1, 16, 16, 3], 'output_0');
    const diff = maxAbsDiff(served, expected);
    assert.ok(diff <= TOLERANCE, `served vs TensorFlow: max abs difference ${diff}`);
    t.diagnostic(`served vs TensorFlow: max abs difference ${diff.toExponential(2)}`);
  });
});
