/**
 * Writes the project's generated example models (tiny MLP, benchmark CNN, ResNet-18, MobileNetV2) to a models
 * directory.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root';
import { randomBytes } from 'node:crypto';
import { buildMobileNetV2 } from './mobilenet-v2';
import { buildResNet18 } from './resnet18';
import { buildSmallCnn } from './small-cnn';
import { buildTinyModel } from './tiny-mlp';

/** File names of the generated example models inside a models directory. */
export const EXAMPLE_MODELS = {
  tiny: 'tiny.onnx',
  cnn: 'cnn.onnx',
  resnet18: 'resnet18.onnx',
  mobilenetv2: 'mobilenetv2.onnx',
} as const;

/** Key of one generated example model. */
export type ExampleModel = keyof typeof EXAMPLE_MODELS;

/** The default models directory: `<package root>/models`. */
export function defaultModelsDir(): string {
  return join(packageRoot(), 'models');
}

/**
 * How each model is built, and whether its bytes stay cached in the process once built (the small ones, which
 * tests ask for many times; ResNet-18's 47 MB and MobileNetV2's 14 MB are rebuilt in 0.2–0.4 s rather than held).
 */
const builders: Record<ExampleModel, { readonly build: () => Uint8Array; readonly keep: boolean }> = {
  tiny: { build: buildTinyModel, keep: true },
  cnn: { build: buildSmallCnn, keep: true },
  resnet18: { build: buildResNet18, keep: false },
  mobilenetv2: { build: buildMobileNetV2, keep: false },
};

/** Every example model, in the order they are generated. */
export const ALL_MODELS = Object.keys(EXAMPLE_MODELS) as ExampleModel[];

const built = new Map<ExampleModel, Uint8Array>();

function modelBytes(key: ExampleModel): Uint8Array {
  let bytes = built.get(key);
  if (bytes === undefined) {
    bytes = builders[key].build();
    if (builders[key].keep) built.set(key, bytes);
  }
  return bytes;
}

async function sameContent(path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(await readFile(path));
  } catch {
    return false;
  }
}

/**
 * Writes `bytes` (one buffer, one write) to `path` unless it already holds exactly them; tmp file + rename so
 * readers never see a partial file.
 */
async function writeIfDifferent(path: string, bytes: Uint8Array): Promise<void> {
  if (await sameContent(path, bytes)) return;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Makes sure `dir` holds the generated example models with exactly the bytes this code builds (writing them if
 * missing or different; safe with concurrent callers) and returns their absolute paths. `only` limits the work to
 * some models (default: all four; ResNet-18 and MobileNetV2 add about 61 MB and half a second).
 */
export async function ensureModels<K extends ExampleModel = ExampleModel>(
  dir: string = defaultModelsDir(),
  only?: readonly K[],
): Promise<Record<K, string>> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const keys = (only ?? ALL_MODELS) as readonly K[];
  const paths = {} as Record<K, string>;
  for (const key of keys) {
    // One model at a time, so at most one large model's bytes are alive at once.
    const path = join(root, EXAMPLE_MODELS[key]);
    await writeIfDifferent(path, modelBytes(key));
    paths[key] = path;
  }
  return paths;
}
