import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { TopologyError } from '../errors/cluster-serving-error';
import type { TopologySpec } from './schema';
import { checkSpec } from './validate-spec';

/** Most alias expansions a topology may make (yaml's `maxAliasCount`): a few anchors are normal, an alias bomb is not. */
export const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates a YAML topology file (SPEC §4).
 *
 * A YAML syntax error is reported as `file:line:col: message`, every one of them. A file that parses but
 * does not fit the schema is reported field by field, each problem as `"<field.path>: <message>"` followed
 * by where in the file the field is, e.g. `batch.maxSize: Too small: expected number to be >=1 (tiny.yaml:9:12)`.
 * Relative paths (the model file) are returned as written; resolving them is the loader's job.
 *
 * @param text - the file's content.
 * @param filename - shown in problems; not read.
 * @throws {@link TopologyError} listing every problem.
 * @example
 * ```ts
 * const spec = parseYamlTopology(readFileSync('topologies/tiny.yaml', 'utf8'), 'tiny.yaml');
 * ```
 */
export function parseYamlTopology(text: string, filename: string): TopologySpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new TopologyError(
      doc.errors.map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return `${filename}:${at.line}:${at.col}: ${firstLine(e.message)}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml refuses an alias bomb (aliases expanding to more nodes than maxAliasCount allows) with a plain Error.
    const reason = err instanceof Error ? err.message : String(err);
    throw new TopologyError([`${filename}: ${/alias/i.test(reason) ? `too many aliases (at most ${MAX_ALIAS_COUNT} alias expansions): ${reason}` : reason}`], { cause: err });
  }
  if (value === null || value === undefined) throw new TopologyError([`${filename}: the file is empty; a topology needs at least name, source and model`]);
  const check = checkSpec(value);
  if (check.ok) return check.spec;
  throw new TopologyError(check.problems.map((p) => `${p.text}${locate(doc, lineCounter, p.path, filename)}`));
}

/** ` (file:line:col)` of the deepest node of `path` present in the document, or '' for the root. */
function locate(doc: Document, lines: LineCounter, path: readonly (string | number)[], filename: string): string {
  for (let n = path.length; n > 0; n--) {
    const prefix = path.slice(0, n);
    const range = keyRange(doc, prefix) ?? nodeRange(doc.getIn(prefix, true));
    if (range !== undefined) {
      const at = lines.linePos(range);
      return ` (${filename}:${at.line}:${at.col})`;
    }
  }
  return '';
}

/** Start of the key node naming the last segment of `path` in its parent mapping (where an editor should point). */
function keyRange(doc: Document, path: readonly (string | number)[]): number | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const last = path[path.length - 1];
  for (const pair of parent.items) {
    if (isScalar(pair.key) && pair.key.value === last) return pair.key.range?.[0];
  }
  return undefined;
}

function nodeRange(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range: unknown = node.range;
  return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : undefined;
}

/** yaml's messages end with " at line L, column C:" and a code excerpt; we print the position ourselves. */
function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, '');
}
