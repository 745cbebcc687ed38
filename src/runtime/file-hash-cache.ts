import { stat } from 'node:fs/promises';
import { sha256OfFile } from '../cluster-api/model-files';

/**
 * SHA-256 of files by path, remembered with each file's mtime, size and inode so a file is hashed once
 * (concurrent callers share the one hashing) and again only when it changed. Used wherever a model file
 * is identified by content: the TaskManager's model download cache and the shared model cache.
 */
export class FileHashCache {
  private readonly known = new Map<string, { stamp: string; sha256: Promise<string> }>();

  /** The file's SHA-256 (hex), or undefined when it is missing or unreadable. */
  async hashOf(path: string): Promise<string | undefined> {
    const stamp = await stampOf(path);
    if (stamp === undefined) return undefined;
    let entry = this.known.get(path);
    if (entry?.stamp !== stamp) {
      entry = { stamp, sha256: sha256OfFile(path) };
      this.known.set(path, entry);
    }
    try {
      return await entry.sha256;
    } catch {
      if (this.known.get(path) === entry) this.known.delete(path);
      return undefined;
    }
  }

  /** Records a hash already known (e.g. verified while the file was written). */
  async remember(path: string, sha256: string): Promise<void> {
    const stamp = await stampOf(path);
    if (stamp !== undefined) this.known.set(path, { stamp, sha256: Promise.resolve(sha256) });
  }
}

async function stampOf(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? `${info.mtimeMs}:${info.size}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}
