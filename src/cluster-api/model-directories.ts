import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** Where a model path points, as {@link ModelDirectories.locate} finds it. */
export type ModelLocation =
  /** A regular file whose real path (symlinks followed) is inside a model directory. */
  | { readonly kind: 'file'; readonly path: string }
  /** Inside a model directory as written, but nothing is there (yet) on this machine. */
  | { readonly kind: 'missing' }
  /** Outside every model directory, as written or once symlinks are followed, or not a regular file. */
  | { readonly kind: 'outside' };

/**
 * The folders model files may be read from (`--model-dir`, `CS_MODEL_DIRS`). A path counts only when it
 * lies inside one of them both as written and as its real path (`realpath`, so a symlink inside a model
 * directory that points elsewhere does not count), and is a regular file (no devices, FIFOs or folders).
 * With no folders, no path counts: models are then uploaded with the job and go by content hash.
 *
 * @example
 * ```ts
 * const dirs = new ModelDirectories(['/srv/models']);
 * await dirs.locate('/srv/models/../../etc/passwd'); // { kind: 'outside' }
 * ```
 */
export class ModelDirectories {
  readonly dirs: readonly string[];

  constructor(dirs: readonly string[]) {
    this.dirs = Object.freeze(dirs.map((d) => resolve(d)));
  }

  /** The folders as shown in messages: `/a, /b`, or `none`. */
  describe(): string {
    return this.dirs.length === 0 ? 'none' : this.dirs.join(', ');
  }

  /** Where `path` (absolute, or relative to the working folder) points; never reads the file itself. */
  async locate(path: string): Promise<ModelLocation> {
    const written = resolve(path);
    if (!this.dirs.some((dir) => isInside(written, dir))) return { kind: 'outside' };
    let real: string;
    try {
      real = await realpath(written);
    } catch (err) {
      return (err as { code?: string }).code === 'ENOENT' ? { kind: 'missing' } : { kind: 'outside' };
    }
    const realDirs = await Promise.all(this.dirs.map((dir) => realpath(dir).catch(() => undefined)));
    if (!realDirs.some((dir) => dir !== undefined && isInside(real, dir))) return { kind: 'outside' };
    try {
      return (await stat(real)).isFile() ? { kind: 'file', path: real } : { kind: 'outside' };
    } catch {
      return { kind: 'missing' };
    }
  }
}

/** Whether `path` is strictly below `dir` (both absolute and normalised). */
function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel.split(sep)[0] !== '..' && !isAbsolute(rel);
}
