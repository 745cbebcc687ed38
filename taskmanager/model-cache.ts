import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { ModelDirectories } from '../src/cluster-api/model-directories';
import { modelCachePath, storeByHash, type StoredModel } from '../src/cluster-api/model-files';
import { FileHashCache } from '../src/runtime/file-hash-cache';
import { ClusterServingError, ConnectorError } from '../src/errors';
import type { Logger } from '../src/logging/logger';

/** What a {@link ModelCache} needs. */
export interface ModelCacheOptions {
  /** Shipped models are kept as `<cacheDir>/models/<sha256>.onnx`. */
  readonly cacheDir: string;
  /** Folders a job's own `model.path` may be loaded from directly (`--model-dir`). @default none */
  readonly modelDirs?: readonly string[];
  /** `GET /models/:sha256` on the JobManager: the model's bytes. */
  readonly download: (sha256: string) => Promise<ReadableStream<Uint8Array>>;
  readonly logger: Logger;
}

/**
 * Picks the model file a subtask loads, the way BigDL used Flink's distributed cache (SPEC §4), by
 * content hash: the topology's own `model.path` only when it is a file inside this TaskManager's model
 * directories whose bytes are the ones the JobManager holds (same SHA-256); otherwise
 * `<cacheDir>/models/<sha256>.onnx`, downloaded from the JobManager by hash once (streamed to a temp
 * file, verified against the hash, renamed) and shared by every subtask that needs it. No other path is
 * ever read. File hashes are remembered by path, mtime and size, so a subtask start does not re-read a
 * large model.
 */
export class ModelCache {
  private readonly hashes = new FileHashCache();
  private readonly downloads = new Map<string, Promise<string>>();
  private readonly log: Logger;
  private readonly modelDirs: ModelDirectories;

  constructor(private readonly options: ModelCacheOptions) {
    this.log = options.logger.child({ component: 'taskmanager.models' });
    this.modelDirs = new ModelDirectories(options.modelDirs ?? []);
  }

  /**
   * The path to load for a job whose topology names `path`. Without `sha256` (the JobManager holds no
   * copy) that is `path` itself, if it lies inside the model directories (CS_ERR_MODEL_LOAD otherwise). Rejects with a retriable ConnectorError when the JobManager cannot be reached, and with
   * CS_ERR_MODEL_LOAD when the model cannot be had at all.
   */
  async resolve(jobId: string, path: string, sha256: string | undefined): Promise<string> {
    const where = await this.modelDirs.locate(path);
    if (sha256 === undefined) {
      if (where.kind === 'file') return where.path;
      if (where.kind === 'missing') return path; // nothing there to read; loading it reports the missing file
      throw new ClusterServingError(
        'CS_ERR_MODEL_LOAD',
        `model ${path}: the JobManager holds no copy, and it is no file inside this TaskManager's model directories (${this.modelDirs.describe()}; --model-dir)`,
        { context: { jobId } },
      );
    }
    const local = where.kind === 'file' ? await this.hashes.hashOf(where.path) : undefined;
    if (where.kind === 'file' && local === sha256) return where.path;
    const cached = modelCachePath(this.options.cacheDir, sha256);
    if ((await this.hashes.hashOf(cached)) === sha256) {
      this.log.debug({ jobId, model: path, sha256, cached }, 'taskmanager.model.cached');
      return cached;
    }
    const reason = where.kind !== 'file' ? 'not in the model directories' : local === undefined ? 'unreadable' : 'different bytes';
    this.log.info({ jobId, model: path, sha256, reason }, 'taskmanager.model.fetching');
    return this.download(jobId, path, sha256);
  }

  /** One download per hash at a time; every subtask waiting for it gets the same file. */
  private download(jobId: string, path: string, sha256: string): Promise<string> {
    let pending = this.downloads.get(sha256);
    if (!pending) {
      pending = this.fetchAndStore(jobId, path, sha256).finally(() => this.downloads.delete(sha256));
      this.downloads.set(sha256, pending);
    }
    return pending;
  }

  private async fetchAndStore(jobId: string, path: string, sha256: string): Promise<string> {
    const startedAt = Date.now();
    let body: ReadableStream<Uint8Array>;
    try {
      body = await this.options.download(sha256);
    } catch (err) {
      if (err instanceof ClusterServingError && err.retriable) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new ClusterServingError('CS_ERR_MODEL_LOAD', `model ${path} (${sha256}) could not be downloaded from the JobManager: ${reason}`, { cause: err, context: { jobId } });
    }
    let stored: StoredModel;
    try {
      stored = await storeByHash(() => Readable.fromWeb(body as NodeReadableStream<Uint8Array>), this.options.cacheDir, sha256);
    } catch (err) {
      await body.cancel().catch(() => undefined); // when it failed before reading the body
      if (err instanceof ClusterServingError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      // A file-system error is this machine's problem; anything else means the transfer broke off.
      if (typeof (err as { syscall?: unknown }).syscall === 'string') {
        throw new ClusterServingError('CS_ERR_MODEL_LOAD', `cannot store model ${sha256} in ${this.options.cacheDir}: ${reason}`, { cause: err, context: { jobId } });
      }
      throw new ConnectorError(`model download from the JobManager broke off: ${reason}`, { cause: err, context: { jobId } });
    }
    await this.hashes.remember(stored.path, sha256);
    this.log.info({ jobId, sha256, bytes: stored.bytes, path: stored.path, ms: Date.now() - startedAt }, 'taskmanager.model.downloaded');
    return stored.path;
  }
}
