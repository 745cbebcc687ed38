import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClusterServingError } from '../errors';

/**
 * How the JobManager and the TaskManagers keep shipped model files (SPEC §4): by content, as
 * `<cacheDir>/models/<sha256>.onnx`, written to a temporary file and renamed so that a reader never sees
 * half a file. Shared by both sides, like the Redis key names in ./keys.ts.
 */

/** The folder under a cache dir that holds models by hash. */
export const MODELS_DIR = 'models';

/** Where a cache dir keeps the model of this SHA-256 (hex). */
export function modelCachePath(cacheDir: string, sha256: string): string {
  return join(cacheDir, MODELS_DIR, `${sha256}.onnx`);
}

/** Whether `value` looks like a SHA-256 in hex (guards file names built from it). */
export function isSha256(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/** A file written by {@link storeByHash}. */
export interface StoredModel {
  readonly sha256: string;
  readonly bytes: number;
  /** `<cacheDir>/models/<sha256>.onnx` */
  readonly path: string;
}

/**
 * Streams the bytes `open()` gives into `<cacheDir>/models/<sha256>.onnx`, hashing on the way (one pass,
 * constant memory, whatever the model's size). `open` is called once the folder exists, so that a file
 * stream's open error is never emitted before anyone listens. With `expectedSha256`, bytes that hash
 * differently are refused with CS_ERR_MODEL_LOAD and nothing is kept.
 */
export async function storeByHash(open: () => Readable | AsyncIterable<Uint8Array>, cacheDir: string, expectedSha256?: string): Promise<StoredModel> {
  const dir = join(cacheDir, MODELS_DIR);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.incoming-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(open(), hashing, createWriteStream(temp));
    const sha256 = hash.digest('hex');
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', `model bytes hash to ${sha256}, expected ${expectedSha256} (${bytes} bytes)`);
    }
    const path = modelCachePath(cacheDir, sha256);
    await rename(temp, path);
    return { sha256, bytes, path };
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** The SHA-256 (hex) of a file's bytes, read as a stream. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
