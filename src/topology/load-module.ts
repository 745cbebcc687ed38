import { packageRoot } from '../package-root';
import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { TopologyError } from '../errors/cluster-serving-error';

/*
 * Loads TypeScript topology modules (SPEC §4) with ts-node, from anywhere on disk.
 *
 * A submitted topology may live outside this package: the JobManager ships its source to the
 * TaskManagers, which write it into a cache directory. From there, Node's resolver finds neither
 * `cluster-serving` (nothing installs this package under that name) nor `rxjs` (no node_modules above the
 * cache directory). Node offers no per-file resolution fallback: NODE_PATH is read once at startup and is
 * global, `--experimental-loader` hooks are for ES modules, and `require.resolve`'s `paths` option only
 * helps the caller, not the module being loaded. So we hand-write the one hook CommonJS has,
 * `Module._resolveFilename`: `cluster-serving` maps to this very package's entry (the same module
 * instances the loader uses), and a bare specifier that fails from a file outside the package is retried
 * from the package root. Everything else resolves exactly as Node would.
 */

/** `Module` internals we patch; typed here because @types/node leaves them out. */
interface ModuleInternals {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
}

let tsNodeReady = false;
let resolverInstalled = false;


/**
 * The file `import ... from 'cluster-serving'` means for topology modules: `src/index.ts` when the
 * framework itself runs from TypeScript sources (ts-node), otherwise the package's `main`
 * (`dist/src/index.js`).
 */
export function frameworkEntry(): string {
  const root = packageRoot();
  if (__filename.endsWith('.ts')) return join(root, 'src', 'index.ts');
  return join(root, readManifest(join(root, 'package.json')).main ?? 'dist/src/index.js');
}

/**
 * Loads a TypeScript topology module and returns its default export (or the whole module when it has no
 * ES default export but `module.exports` is the value itself). Registers ts-node (transpile only, ~1 s)
 * on first use and installs the resolution fallback described above. The module is evaluated afresh on
 * each call, so each loaded topology gets its own step closures.
 *
 * @param file - path of the `.ts` file; may be outside the package.
 * @throws {@link TopologyError} when the module does not compile, throws while loading, or has no default export.
 * @example `toTopology(await loadTopologyModule('topologies/tiny-custom.ts'))`
 */
export async function loadTopologyModule(file: string): Promise<unknown> {
  const path = resolve(file);
  await ensureTsNode();
  installResolutionFallback();
  delete require.cache[path];
  let exports: unknown;
  try {
    exports = require(path) as unknown;
  } catch (err) {
    throw new TopologyError([`${file}: ${loadErrorMessage(err)}`], { cause: err });
  } finally {
    delete require.cache[path];
  }
  if (typeof exports === 'object' && exports !== null && '__esModule' in exports) {
    if (!('default' in exports) || exports.default === undefined) {
      throw new TopologyError([`${file}: no default export; write \`export default topology('name')...\``]);
    }
    return exports.default;
  }
  return exports;
}

/**
 * Makes the TypeScript loader ready ahead of the first topology: registers ts-node, installs the
 * resolution fallback and compiles a one-line module, so that loading a topology later costs only its own
 * transpilation. A TaskManager that may run code topologies calls it before it registers, so the
 * second or so this takes (loading the compiler) never delays its heartbeats.
 */
export async function prepareTopologyLoader(): Promise<void> {
  await ensureTsNode();
  installResolutionFallback();
  const tsNode = await import('ts-node');
  const service = (process as unknown as Record<symbol, { compile?: (code: string, fileName: string) => string } | undefined>)[tsNode.REGISTER_INSTANCE];
  service?.compile?.('export const warm: number = 1;\n', join(packageRoot(), '.cs-warm-up.ts'));
}

/**
 * Registers ts-node once, unless the process already runs under it (tests, `ts-node` CLI): a second
 * registration would chain both `.ts` hooks and compile every file twice. The existing instance is then
 * used as configured; a type-checking or `scope`-restricted one may refuse topologies outside its project,
 * which only matters when running the framework itself from sources.
 */
async function ensureTsNode(): Promise<void> {
  if (tsNodeReady) return;
  const tsNode = await import('ts-node');
  const already = (process as unknown as Record<symbol, unknown>)[tsNode.REGISTER_INSTANCE];
  if (already === undefined) {
    tsNode.register({
      transpileOnly: true,
      // The topology may sit anywhere; never pick up whatever tsconfig.json happens to be above it or the cwd.
      skipProject: true,
      compilerOptions: { module: 'commonjs', target: 'es2022', esModuleInterop: true, sourceMap: true },
    });
  }
  tsNodeReady = true;
}

function installResolutionFallback(): void {
  if (resolverInstalled) return;
  resolverInstalled = true;
  const root = packageRoot();
  const entry = frameworkEntry();
  const fromRoot = createRequire(join(root, 'package.json'));
  const internals = Module as unknown as ModuleInternals;
  const original = internals._resolveFilename;
  internals._resolveFilename = function resolveWithFallback(this: unknown, request, parent, isMain, options) {
    if (request === 'cluster-serving') return entry;
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      if (!isBareSpecifier(request) || !isOutsidePackage(parentFile(parent), root)) throw err;
      try {
        return fromRoot.resolve(request);
      } catch {
        throw err;
      }
    }
  };
}

function isBareSpecifier(request: string): boolean {
  return !(request.startsWith('.') || request.startsWith('/') || isAbsolute(request) || request.startsWith('node:'));
}

/** True for a user file outside this package and outside any node_modules (third-party code resolves as usual). */
function isOutsidePackage(file: string | undefined, root: string): boolean {
  if (file === undefined || /[\\/]node_modules[\\/]/.test(file)) return false;
  const rel = relative(root, file);
  return rel.startsWith('..') || isAbsolute(rel);
}

function parentFile(parent: unknown): string | undefined {
  if (typeof parent !== 'object' || parent === null || !('filename' in parent)) return undefined;
  return typeof parent.filename === 'string' ? parent.filename : undefined;
}

function readManifest(file: string): { name?: string; main?: string } {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof json !== 'object' || json === null) return {};
    const { name, main } = json as Record<string, unknown>;
    return { ...(typeof name === 'string' && { name }), ...(typeof main === 'string' && { main }) };
  } catch {
    return {};
  }
}

/** ts-node's TSError carries the diagnostics in `diagnosticText`; other errors keep their first line. */
function loadErrorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'diagnosticText' in err && typeof err.diagnosticText === 'string') {
    return err.diagnosticText.trim();
  }
  return err instanceof Error ? err.message : String(err);
}
