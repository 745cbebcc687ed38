/**
 * `cs model import`: converts a TorchScript file, an eager PyTorch module or a TensorFlow SavedModel to ONNX
 * with the USER's Python environment (the scripts beside this file, run from the package root), then checks
 * the conversion: the Python script runs the original framework on random inputs and writes inputs and
 * outputs as raw tensors; here onnxruntime-node runs the converted model on the same inputs and the largest
 * absolute difference must stay within the tolerance. The ONNX file is written only when the check passes.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ClusterServingError, ConfigError } from '../../errors';
import { packageRoot } from '../../package-root';
import { readOnnxModelInfo, type OnnxModelInfo } from '../../runtime/onnx-model-info';

/** The source formats `cs model import --from` accepts. */
export const IMPORT_FORMATS = ['torchscript', 'torch', 'savedmodel'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** The torch formats' example input when --input-shape is not given. */
export const DEFAULT_TORCH_INPUT_SHAPE = [1, 3, 224, 224] as const;

/** What the CLI hands over, as text (flags not given are undefined). */
export interface RawImportOptions {
  readonly from?: string;
  readonly src?: string;
  readonly out?: string;
  readonly python?: string;
  readonly inputShape?: string;
  readonly inputName?: string;
  readonly opset?: string;
  readonly checkSamples?: string;
  readonly tolerance?: string;
}

export interface ImportOptions {
  readonly from: ImportFormat;
  /** TorchScript file, `module.py:factory`, or SavedModel folder. */
  readonly src: string;
  /** Absolute path of the ONNX file to write. */
  readonly out: string;
  /** The interpreter to use; undefined: try the defaults (python3, and for torch also /usr/bin/python3). */
  readonly python?: string;
  readonly inputShape?: readonly number[];
  readonly inputName?: string;
  readonly opset: number;
  readonly checkSamples: number;
  readonly tolerance: number;
  /** Seed of the example and check inputs. @default 0 */
  readonly seed?: number;
}

/** One tensor as the check saw it. */
interface SampleTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly file: string;
}

interface SampleManifest {
  readonly framework: string;
  readonly samples: readonly { readonly inputs: readonly SampleTensor[]; readonly outputs: readonly SampleTensor[] }[];
}

export interface ImportResult {
  /** The interpreter that did the conversion and what it had (e.g. `torch 1.13.1`). */
  readonly python: string;
  readonly pythonHas: string;
  /** The framework that produced the reference outputs, as the script reported it. */
  readonly framework: string;
  readonly out: string;
  readonly bytes: number;
  readonly info: OnnxModelInfo;
  readonly samplesChecked: number;
  /** Largest absolute difference between the original's and onnxruntime's outputs over every sample. */
  readonly maxAbsDiff: number;
  readonly tolerance: number;
}

/** Which Python packages a format needs, how to check for them and how to get them. */
const NEEDS: Record<ImportFormat, { packages: string; probe: string; install: string; script: string }> = {
  torchscript: {
    packages: 'torch',
    probe: 'import torch; print("torch " + torch.__version__)',
    install: 'apt-get install python3-torch python3-onnx (Debian, for /usr/bin/python3) or pip install torch onnx',
    script: 'export_torch.py',
  },
  torch: {
    packages: 'torch',
    probe: 'import torch; print("torch " + torch.__version__)',
    install: 'apt-get install python3-torch python3-onnx (Debian, for /usr/bin/python3) or pip install torch onnx',
    script: 'export_torch.py',
  },
  savedmodel: {
    packages: 'tensorflow and tf2onnx',
    probe: 'import tensorflow, tf2onnx; print("tensorflow " + tensorflow.__version__ + ", tf2onnx " + tf2onnx.__version__)',
    install: 'pip install tensorflow-cpu tf2onnx (in a venv)',
    script: 'export_savedmodel.py',
  },
};

/** The exit codes of the scripts (cs_import_common.py). */
const EXIT_MISSING_PACKAGE = 3;
const EXIT_USER_ERROR = 4;

function parseIntOption(problems: string[], flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${flag} "${text}": an integer from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

/**
 * Validates the text options of `cs model import` and fills in defaults (--opset 13, --check-samples 3,
 * --tolerance 1e-4, --python from CS_PYTHON).
 *
 * @throws ConfigError listing every problem.
 */
export function parseImportOptions(raw: RawImportOptions, env: NodeJS.ProcessEnv = process.env): ImportOptions {
  const problems: string[] = [];
  const from = raw.from;
  if (from === undefined) problems.push(`--from is required: one of ${IMPORT_FORMATS.join(', ')}`);
  else if (!(IMPORT_FORMATS as readonly string[]).includes(from)) problems.push(`--from "${from}": one of ${IMPORT_FORMATS.join(', ')}`);
  if (!raw.src) problems.push('SRC is required (a TorchScript file, module.py:factory, or a SavedModel folder)');
  if (!raw.out) problems.push('--out OUT.onnx is required');
  let inputShape: number[] | undefined;
  if (raw.inputShape !== undefined) {
    const dims = raw.inputShape.split(',').map((d) => d.trim());
    if (dims.length === 0 || dims.some((d) => !/^\d+$/.test(d) || Number(d) < 1 || !Number.isSafeInteger(Number(d)))) {
      problems.push(`--input-shape "${raw.inputShape}": comma-separated positive integers, e.g. 1,3,224,224`);
    } else inputShape = dims.map(Number);
  }
  if (raw.inputName !== undefined && !/^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/.test(raw.inputName)) {
    problems.push(`--input-name "${raw.inputName}": a letter or "_" then letters, digits, "_", ".", ":", "/", "-"`);
  }
  const opset = parseIntOption(problems, '--opset', raw.opset, 13, 7, 21);
  const checkSamples = parseIntOption(problems, '--check-samples', raw.checkSamples, 3, 1, 1000);
  let tolerance = 1e-4;
  if (raw.tolerance !== undefined) {
    const t = Number(raw.tolerance);
    if (raw.tolerance.trim() === '' || !Number.isFinite(t) || t < 0) problems.push(`--tolerance "${raw.tolerance}": a number ≥ 0, e.g. 1e-4`);
    else tolerance = t;
  }
  const python = raw.python ?? (env.CS_PYTHON || undefined);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    from: from as ImportFormat,
    src: resolve(raw.src!),
    out: resolve(raw.out!),
    ...(python !== undefined ? { python } : {}),
    ...(inputShape !== undefined ? { inputShape } : {}),
    ...(raw.inputName !== undefined ? { inputName: raw.inputName } : {}),
    opset,
    checkSamples,
    tolerance,
  };
}

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly spawnError?: NodeJS.ErrnoException;
}

const KEEP_OUTPUT_CHARS = 64 * 1024;

/** Runs a command to completion, keeping the last 64 KB of its stdout and stderr. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((done) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-KEEP_OUTPUT_CHARS)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-KEEP_OUTPUT_CHARS)));
    child.once('error', (err: NodeJS.ErrnoException) => done({ code: null, stdout, stderr, spawnError: err }));
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

/** The environment of the Python children: quiet TensorFlow, no .pyc files written into the package. */
function pythonEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONDONTWRITEBYTECODE: '1', TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2', PYTHONUNBUFFERED: '1' };
}

/** The one line worth showing from a failed Python run: our scripts' `cs-import-error:` line, else the last line. */
function failureLine(result: RunResult): string {
  if (result.spawnError) return result.spawnError.code === 'ENOENT' ? 'not found' : result.spawnError.message;
  const lines = result.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const ours = lines.filter((l) => l.startsWith('cs-import-error: '));
  if (ours.length > 0) return ours[ours.length - 1]!.slice('cs-import-error: '.length);
  const missing = lines.map((l) => /^ModuleNotFoundError: No module named '([^']+)'/.exec(l)).find((m) => m !== null);
  if (missing) return `no module named ${missing[1]}`;
  return lines[lines.length - 1] ?? `exit code ${result.code}`;
}

/**
 * The Python to convert with: the one named (--python / CS_PYTHON), else the first of python3 (and, for
 * the torch formats, Debian's /usr/bin/python3) that imports the format's packages.
 *
 * @throws ConfigError one line naming the missing package and how to get it.
 */
export async function findPython(from: ImportFormat, named?: string): Promise<{ python: string; has: string }> {
  const needs = NEEDS[from];
  const candidates = named !== undefined ? [named] : from === 'savedmodel' ? ['python3'] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    const result = await run(python, ['-c', needs.probe], pythonEnv());
    if (result.code === 0) return { python, has: result.stdout.trim().split('\n').pop() ?? needs.packages };
    if (named !== undefined && result.spawnError) {
      throw new ConfigError([`cannot run the Python named by --python / CS_PYTHON (${python}): ${failureLine(result)}`]);
    }
    tried.push(`${python}: ${failureLine(result)}`);
  }
  const where = named !== undefined ? `the Python named by --python / CS_PYTHON lacks ${needs.packages}` : `no Python with ${needs.packages} found`;
  throw new ConfigError([`${where} (${tried.join('; ')}): install it with \`${needs.install}\`, or name an interpreter that has it with --python / CS_PYTHON`]);
}

/** The folder of the conversion scripts, in the package (they are not compiled, so not under dist/). */
export function importScriptsDir(): string {
  return join(packageRoot(), 'src', 'models', 'import');
}

function typedArray(dtype: string, bytes: Buffer): ort.Tensor['data'] {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer);
    default:
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', `the check cannot compare tensors of dtype ${dtype}`);
  }
}

async function loadTensor(dir: string, t: SampleTensor): Promise<ort.Tensor> {
  const data = typedArray(t.dtype, await readFile(join(dir, t.file)));
  return new ort.Tensor(t.dtype as 'float32', data as Float32Array, [...t.shape]);
}

function shapeText(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/** Largest |a - b| over two equally long arrays; a NaN on one side only counts as infinitely different. */
function maxAbsDifference(a: ort.Tensor['data'], b: ort.Tensor['data']): number {
  let max = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
      continue;
    }
    const d = Math.abs(x - y);
    if (d > max) max = d;
  }
  return max;
}

/**
 * Runs the ONNX model at `modelPath` with onnxruntime-node on every sample's inputs and compares with the
 * original's outputs.
 *
 * @returns the largest absolute difference seen.
 * @throws ClusterServingError CS_ERR_MODEL_LOAD when a shape differs or the difference exceeds the tolerance.
 */
export async function compareWithSamples(modelPath: string, samplesDir: string, tolerance: number, shownAs: string): Promise<{ maxAbsDiff: number; framework: string; samples: number }> {
  const manifest = JSON.parse(await readFile(join(samplesDir, 'manifest.json'), 'utf8')) as SampleManifest;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new ClusterServingError('CS_ERR_MODEL_LOAD', `onnxruntime cannot load the converted model: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const framework = manifest.framework;
  let maxAbsDiff = 0;
  try {
    for (const [index, sample] of manifest.samples.entries()) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [position, input] of sample.inputs.entries()) {
        const name = session.inputNames.includes(input.name) ? input.name : session.inputNames[position];
        if (name === undefined) throw new ClusterServingError('CS_ERR_MODEL_LOAD', `the converted model has no input for ${framework}'s input "${input.name}" (it has ${session.inputNames.join(', ')})`);
        feeds[name] = await loadTensor(samplesDir, input);
      }
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await session.run(feeds);
      } catch (err) {
        throw new ClusterServingError('CS_ERR_MODEL_LOAD', `onnxruntime failed on check sample ${index + 1} (input ${sample.inputs.map((i) => shapeText(i.shape)).join(', ')}): ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      for (const [position, expected] of sample.outputs.entries()) {
        const name = session.outputNames.includes(expected.name) ? expected.name : session.outputNames[position];
        const actual = name === undefined ? undefined : results[name];
        if (!actual) throw new ClusterServingError('CS_ERR_MODEL_LOAD', `the converted model has no output for ${framework}'s output "${expected.name}" (it has ${session.outputNames.join(', ')})`);
        if (shapeText(actual.dims) !== shapeText(expected.shape)) {
          throw new ClusterServingError('CS_ERR_MODEL_LOAD', `check sample ${index + 1}: output "${name}" has shape ${shapeText(actual.dims)} in onnxruntime but ${shapeText(expected.shape)} in ${framework}; ${shownAs} not written`);
        }
        const want = typedArray(expected.dtype, await readFile(join(samplesDir, expected.file)));
        const diff = maxAbsDifference(actual.data, want);
        if (diff > maxAbsDiff) maxAbsDiff = diff;
        if (!(diff <= tolerance)) {
          throw new ClusterServingError('CS_ERR_MODEL_LOAD', `the converted model differs from ${framework}: max abs difference ${diff.toExponential(2)} > tolerance ${tolerance} (output "${name}", check sample ${index + 1}); ${shownAs} not written`);
        }
      }
    }
  } finally {
    await session.release();
  }
  return { maxAbsDiff, framework, samples: manifest.samples.length };
}

function scriptArgs(options: ImportOptions, tmpOut: string, samplesDir: string): string[] {
  const common = ['--out', tmpOut, '--samples', samplesDir, '--opset', String(options.opset), '--check-samples', String(options.checkSamples), '--seed', String(options.seed ?? 0)];
  if (options.inputShape) common.push('--input-shape', options.inputShape.join(','));
  if (options.inputName !== undefined) common.push('--input-name', options.inputName);
  if (options.from === 'savedmodel') return [join(importScriptsDir(), NEEDS.savedmodel.script), '--src', options.src, ...common];
  if (!options.inputShape) common.push('--input-shape', DEFAULT_TORCH_INPUT_SHAPE.join(','));
  return [join(importScriptsDir(), NEEDS[options.from].script), '--kind', options.from, '--src', options.src, ...common];
}

/**
 * Converts and checks a model (see the file comment); `progress` receives one line per step.
 *
 * @throws ConfigError when no Python has the packages the format needs.
 * @throws ClusterServingError CS_ERR_MODEL_LOAD when the source cannot be converted or the check fails.
 */
export async function importModel(options: ImportOptions, progress: (line: string) => void = () => {}): Promise<ImportResult> {
  const { python, has } = await findPython(options.from, options.python);
  progress(`python   ${python} (${has})`);
  await mkdir(dirname(options.out), { recursive: true });
  const tmpOut = join(dirname(options.out), `.${basename(options.out)}.importing-${process.pid}.onnx`);
  const samplesDir = await mkdtemp(join(tmpdir(), 'cs-model-import-'));
  try {
    progress(`convert  ${options.src} (${options.from}) to ONNX opset ${options.opset}, then run it on ${options.checkSamples} random input${options.checkSamples === 1 ? '' : 's'}`);
    const result = await run(python, scriptArgs(options, tmpOut, samplesDir), pythonEnv());
    if (result.code !== 0) {
      const line = failureLine(result);
      if (result.code === EXIT_MISSING_PACKAGE) throw new ConfigError([`${line}: install it with \`${NEEDS[options.from].install}\`, or name another interpreter with --python / CS_PYTHON`]);
      const what = result.code === EXIT_USER_ERROR ? 'cannot import' : 'conversion failed for';
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', `${what} ${options.src}: ${line}`);
    }
    progress(`check    ${options.checkSamples} sample${options.checkSamples === 1 ? '' : 's'} with onnxruntime-node, tolerance ${options.tolerance}`);
    const check = await compareWithSamples(tmpOut, samplesDir, options.tolerance, options.out);
    await rename(tmpOut, options.out);
    const info = await readOnnxModelInfo(options.out);
    return {
      python,
      pythonHas: has,
      framework: check.framework,
      out: options.out,
      bytes: (await stat(options.out)).size,
      info,
      samplesChecked: check.samples,
      maxAbsDiff: check.maxAbsDiff,
      tolerance: options.tolerance,
    };
  } finally {
    await rm(tmpOut, { force: true });
    await rm(samplesDir, { recursive: true, force: true });
  }
}

/** The lines `cs model import` prints after a successful import. */
export function formatImportResult(result: ImportResult): string[] {
  const width = Math.max(...[...result.info.inputs, ...result.info.outputs].map((t) => t.name.length));
  const rows = (kind: string, list: OnnxModelInfo['inputs']): string[] =>
    list.map((t) => `${kind.padEnd(8)} ${t.name.padEnd(width)}  ${(t.dtype ?? t.elemType.toLowerCase()).padEnd(7)}  ${shapeText(t.shape)}`);
  const size = result.bytes >= 1e6 ? `${(result.bytes / 1e6).toFixed(1)} MB` : `${(result.bytes / 1e3).toFixed(1)} kB`;
  return [
    `wrote    ${result.out} (${size})`,
    ...rows('input', result.info.inputs),
    ...rows('output', result.info.outputs),
    `checked  ${result.samplesChecked} sample${result.samplesChecked === 1 ? '' : 's'} against ${result.framework}: max abs difference ${result.maxAbsDiff.toExponential(2)} (tolerance ${result.tolerance}); -1 in a shape = any size`,
  ];
}
