/**
 * Writes the project's generated example models (tiny MLP, benchmark CNN) to a models directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../package-root';
import { randomBytes } from 'node:crypto';
import { buildSmallCnn } from './small-cnn';
import { buildTinyModel } from './tiny-mlp';

/** File names of the generated example models inside a models directory. */
export const EXAMPLE_MODELS = { tiny: 'tiny.onnx', cnn: 'cnn.onnx' } as const;

/** The default models directory: `<package root>/models`. */
export function defaultModelsDir(): string {
  return join(packageRoot(), 'models');
}

const builders: Record<keyof typeof EXAMPLE_MODELS, () => Uint8Array> = {
  tiny: buildTinyModel,
  cnn: buildSmallCnn,
};

const built = new Map<keyof typeof EXAMPLE_MODELS, Uint8Array>();

function modelBytes(key: keyof typeof EXAMPLE_MODELS): Uint8Array {
  let bytes = built.get(key);
  if (bytes === undefined) {
    bytes = builders[key]();
    built.set(key, bytes);
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

/** Writes `bytes` to `path` unless it already holds exactly them; tmp file + rename so readers never see a partial file. */
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
 * missing or different; safe with concurrent callers) and returns their absolute paths.
 */
export async function ensureModels(dir: string = defaultModelsDir()): Promise<{ tiny: string; cnn: string }> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const tiny = join(root, EXAMPLE_MODELS.tiny);
  const cnn = join(root, EXAMPLE_MODELS.cnn);
  await writeIfDifferent(tiny, modelBytes('tiny'));
  await writeIfDifferent(cnn, modelBytes('cnn'));
  return { tiny, cnn };
}
