import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isSha256, modelCachePath, storeByHash, type StoredModel } from '../../src/cluster-api/model-files';
import { ClusterServingError } from '../../src/errors';

/** A model file the JobManager holds, ready to be streamed to a TaskManager. */
export interface HeldModel {
  readonly path: string;
  readonly bytes: number;
}

/** Largest model an upload may carry, in bytes. @default 4 GiB */
export const MAX_MODEL_UPLOAD_BYTES = 4 * 1024 ** 3;

/**
 * The JobManager's copies of submitted models, by content hash under `<cacheDir>/models/<sha256>.onnx`
 * (the way Flink keeps a job's jar in its blob store): a TaskManager downloads a job's model from here by
 * its hash. The files outlive a JobManager restart; the job record keeps the hash. Only files of this
 * store are ever served.
 */
export class ModelStore {
  constructor(private readonly cacheDir: string) {}

  /**
   * Copies the model at `path` into the store (one streamed pass that also hashes it). Throws when it cannot
   * be read. The caller has checked that `path` may be read (see ModelDirectories).
   */
  store(path: string): Promise<StoredModel> {
    return storeByHash(() => createReadStream(path), this.cacheDir);
  }

  /**
   * Stores uploaded bytes that must hash to `sha256` (CS_ERR_BAD_REQUEST otherwise, or past `maxBytes`);
   * nothing is kept from a refused or broken upload.
   */
  async receive(sha256: string, body: Readable, maxBytes = MAX_MODEL_UPLOAD_BYTES): Promise<StoredModel> {
    if (!isSha256(sha256)) throw new ClusterServingError('CS_ERR_BAD_REQUEST', 'a model is uploaded to /models/<sha256>, its SHA-256 in lower-case hex');
    async function* limited(): AsyncGenerator<Buffer> {
      let bytes = 0;
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        bytes += buffer.length;
        if (bytes > maxBytes) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `the model is larger than ${maxBytes} bytes`);
        yield buffer;
      }
    }
    try {
      return await storeByHash(limited, this.cacheDir, sha256);
    } catch (err) {
      if (err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD') throw new ClusterServingError('CS_ERR_BAD_REQUEST', `upload refused: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** The held file of this hash, or undefined when the store has none. */
  async file(sha256: string): Promise<HeldModel | undefined> {
    if (!isSha256(sha256)) return undefined;
    const path = modelCachePath(this.cacheDir, sha256);
    try {
      const info = await stat(path);
      return info.isFile() ? { path, bytes: info.size } : undefined;
    } catch {
      return undefined;
    }
  }
}
