import { existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type * as TS from 'typescript';
import { packageRoot } from '../package-root';

/** Options of {@link typecheckTopologyModule}. */
export interface TypecheckOptions {
  /** Name shown for the topology file in diagnostics (e.g. the submitted file name instead of a cache path). */
  readonly displayName?: string;
}

/**
 * Type-checks a TypeScript topology module the way `tsc --strict` would, against this package's own
 * types, and returns its diagnostics formatted as `file:line:col - error TSxxxx: message` (empty when it
 * type-checks). Only the user's files are reported (the topology and any relative imports of it), never
 * the framework's. The file may live outside the package: `cluster-serving` maps to this package and other
 * bare imports (`rxjs`) fall back to this package's node_modules, mirroring the runtime loader.
 * Takes a few seconds (a whole program is built); meant for submit time.
 *
 * @example
 * ```ts
 * const problems = typecheckTopologyModule('topologies/tiny-custom.ts');
 * if (problems.length > 0) throw new TopologyError(problems);
 * ```
 */
export function typecheckTopologyModule(file: string, opts: TypecheckOptions = {}): string[] {
  // Loaded on first use: the compiler takes a moment to load and most processes never type-check.
  const ts = require('typescript') as typeof TS;
  const root = packageRoot();
  const path = resolve(file);
  const options: TS.CompilerOptions = {
    strict: true,
    noFallthroughCasesInSwitch: true,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    resolveJsonModule: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    baseUrl: root,
    paths: { 'cluster-serving': [frameworkTypes(root)] },
  };
  const host = ts.createCompilerHost(options, true);
  const fallbackFrom = join(root, 'package.json');
  host.resolveModuleNames = (names, containingFile, _reused, redirected, opts) =>
    names.map((name) => {
      const found = ts.resolveModuleName(name, containingFile, opts, host, undefined, redirected).resolvedModule;
      if (found !== undefined || name.startsWith('.') || !isUserFile(containingFile, root)) return found;
      return ts.resolveModuleName(name, fallbackFrom, opts, host, undefined, redirected).resolvedModule;
    });
  const program = ts.createProgram({ rootNames: [path], options, host });
  const out: string[] = [];
  const rootFile = program.getSourceFile(path);
  if (rootFile === undefined) return [`${opts.displayName ?? file}: cannot read the file`];
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || !isUserFile(sf.fileName, root)) continue;
    const name = sf === rootFile ? (opts.displayName ?? file) : relative(process.cwd(), sf.fileName);
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    for (const d of diagnostics) {
      if (d.category !== ts.DiagnosticCategory.Error) continue;
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
      if (d.start === undefined) {
        out.push(`${name} - error TS${d.code}: ${message}`);
        continue;
      }
      const { line, character } = sf.getLineAndCharacterOfPosition(d.start);
      out.push(`${name}:${line + 1}:${character + 1} - error TS${d.code}: ${message}`);
    }
  }
  // Problems with the setup itself (e.g. the framework's types missing) would otherwise pass silently.
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) {
    if (d.category === ts.DiagnosticCategory.Error) out.push(`error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`);
  }
  return out;
}

/**
 * The types `cluster-serving` stands for: the TypeScript sources when they are here and the framework runs
 * from them, else the compiled declarations (`dist/src/index.d.ts`), else whichever exists.
 */
function frameworkTypes(root: string): string {
  const source = join(root, 'src', 'index.ts');
  const declarations = join(root, 'dist', 'src', 'index.d.ts');
  const preferSource = __filename.endsWith('.ts');
  const [first, second] = preferSource ? [source, declarations] : [declarations, source];
  return existsSync(first) ? first : second;
}

/** A file the user wrote: not the framework's sources or build output, not a dependency. */
function isUserFile(file: string, root: string): boolean {
  const normalized = resolve(file);
  if (normalized.split(sep).includes('node_modules')) return false;
  for (const own of ['src', 'dist']) if (normalized.startsWith(join(root, own) + sep)) return false;
  return true;
}
