import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { TopologySource } from '../cluster-api/dto';
import { ClusterServingError } from '../errors';

/**
 * Reads a topology file as the JobManager wants it: its name, its text, and its folder as an absolute
 * path (relative model paths resolve against it). A missing or unreadable file is one clear error.
 */
export async function readTopologyFile(file: string): Promise<TopologySource> {
  const path = resolve(file);
  try {
    const source = await readFile(path, 'utf8');
    return { filename: basename(path), source, baseDir: dirname(path) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ClusterServingError('CS_ERR_CONFIG', `cannot read topology file ${file}: ${reason}`, { cause: err });
  }
}
