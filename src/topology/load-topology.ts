import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { TopologyError } from '../errors/cluster-serving-error';
import { toTopology } from './builder';
import { loadTopologyModule } from './load-module';
import { parseYamlTopology } from './load-yaml';
import type { TopologySpec } from './schema';
import type { Topology } from './topology';
import { typecheckTopologyModule } from './typecheck-module';

/** Options of {@link loadTopologyFile} and {@link loadTopologySource}. */
export interface LoadTopologyOptions {
  /**
   * Type-check a TypeScript topology before loading it and refuse it with the diagnostics (takes a few
   * seconds; what `cs job submit` does). YAML files are always validated.
   * @default false
   */
  readonly typecheck?: boolean;
}

/** A loaded, validated topology and where it came from (what the JobManager ships to TaskManagers). */
export interface LoadedTopology {
  /** The validated topology; `spec.model.path` is absolute. */
  readonly topology: Topology;
  /** The folder relative paths in the file were written against (the original file's folder). */
  readonly baseDir: string;
  /** The file's name as given to the loader (its extension says which form it is). */
  readonly filename: string;
  /** The file's content, verbatim. */
  readonly source: string;
}

/** A topology file's content shipped without the file, e.g. from the JobManager to a TaskManager. */
export interface TopologySource {
  /** Original file name; its extension (`.yaml`, `.yml`, `.ts`) says which form it is. */
  readonly filename: string;
  /** The file's content, verbatim. */
  readonly source: string;
  /** The original file's folder: relative model paths are resolved against it. */
  readonly baseDir: string;
}

/**
 * Loads a topology file in either form (SPEC §4): `.yaml`/`.yml` are parsed and validated; `.ts` is
 * type-checked (with `opts.typecheck`), loaded with ts-node and its builder validated. A relative
 * `model.path` comes back resolved against the file's folder.
 *
 * @throws {@link TopologyError} listing every problem (field paths for YAML and builder values, TypeScript
 *   diagnostics for code).
 * @example
 * ```ts
 * const { topology } = await loadTopologyFile('topologies/tiny.yaml');
 * topology.spec.model.path; // '/…/models/tiny.onnx'
 * ```
 */
export async function loadTopologyFile(file: string, opts: LoadTopologyOptions = {}): Promise<LoadedTopology> {
  const path = resolve(file);
  const source = await readSource(path, file);
  const baseDir = dirname(path);
  const topology = await loadFrom(path, source, file, baseDir, opts);
  return { topology, baseDir, filename: path, source };
}

/**
 * Loads a topology from its content alone, as a TaskManager does with what the JobManager shipped: the
 * source is written into `cacheDir` under a name made of its content hash (keeping the extension), then
 * loaded like {@link loadTopologyFile}. Relative model paths resolve against `src.baseDir`. TypeScript
 * topologies loaded this way must be self-contained: they may import `cluster-serving` and packages, not
 * sibling files (those were not shipped).
 *
 * @param cacheDir - created if missing; must not be inside a node_modules folder.
 * @throws {@link TopologyError} listing every problem.
 * @example
 * ```ts
 * const loaded = await loadTopologySource({ filename: 'tiny-custom.ts', source, baseDir: '/srv/topologies' }, '.cs-cache/topologies');
 * ```
 */
export async function loadTopologySource(src: TopologySource, cacheDir: string, opts: LoadTopologyOptions = {}): Promise<LoadedTopology> {
  const ext = extname(src.filename).toLowerCase();
  formOf(ext, src.filename);
  const hash = createHash('sha256').update(src.source).digest('hex').slice(0, 32);
  const dir = resolve(cacheDir);
  const path = join(dir, `topology-${hash}${ext}`);
  if (!(await exists(path))) {
    await mkdir(dir, { recursive: true });
    // Write then rename, so a concurrent load of the same source never reads a half-written file; the
    // temporary name is random, as two loads in one process and millisecond must not share it.
    const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, src.source, 'utf8');
    await rename(temp, path);
  }
  const topology = await loadFrom(path, src.source, src.filename, resolve(src.baseDir), opts);
  return { topology, baseDir: resolve(src.baseDir), filename: src.filename, source: src.source };
}

async function loadFrom(path: string, source: string, displayName: string, baseDir: string, opts: LoadTopologyOptions): Promise<Topology> {
  const form = formOf(extname(path).toLowerCase(), displayName);
  if (form === 'yaml') {
    const spec = parseYamlTopology(source, basename(displayName));
    return withAbsoluteModelPath({ spec, requestSteps: [], resultSteps: [] }, baseDir);
  }
  if (opts.typecheck === true) {
    const diagnostics = typecheckTopologyModule(path, { displayName });
    if (diagnostics.length > 0) throw new TopologyError(diagnostics);
  }
  const exported = await loadTopologyModule(path);
  return withAbsoluteModelPath(toTopology(exported), baseDir);
}

function formOf(ext: string, displayName: string): 'yaml' | 'typescript' {
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.ts') return 'typescript';
  throw new TopologyError([`${displayName}: a topology file ends in .yaml, .yml or .ts`]);
}

function withAbsoluteModelPath(topology: Topology, baseDir: string): Topology {
  const modelPath = topology.spec.model.path;
  if (isAbsolute(modelPath)) return topology;
  const spec: TopologySpec = { ...topology.spec, model: { ...topology.spec.model, path: resolve(baseDir, modelPath) } };
  return { ...topology, spec };
}

async function readSource(path: string, shown: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : err instanceof Error ? err.message : String(err);
    throw new TopologyError([`${shown}: ${reason}`], { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
