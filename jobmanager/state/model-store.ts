import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isSha256, modelCachePath, storeByHash, type StoredModel } from '../../src/cluster-api/model-files';

/** A model file the JobManager holds, ready to be streamed to a TaskManager. */
export interface HeldModel {
  readonly path: string;
  readonly bytes: number;
}

/**
 * The JobManager's copies of submitted models, by content hash under `<cacheDir>/models/<sha256>.onnx`
 * (the way Flink keeps a job's jar in its blob store): a TaskManager that cannot read a job's model path
 * downloads it from here. The files outlive a JobManager restart; the job record keeps the hash.
 */
export class ModelStore {
  constructor(private readonly cacheDir: string) {}

  /** Copies the model at `path` into the store (one streamed pass that also hashes it). Throws when it cannot be read. */
  store(path: string): Promise<StoredModel> {
    return storeByHash(() => createReadStream(path), this.cacheDir);
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
