import { z } from 'zod';
import { TopologyError } from '../errors/cluster-serving-error';
import { topologySchema, type TopologySpec } from './schema';

/** One thing wrong with a topology, located by field path. */
export interface SpecProblem {
  /** Field path from the topology root, e.g. `['batch', 'maxSize']`; for an unknown field, its own path. */
  readonly path: readonly (string | number)[];
  /** What is wrong, without the path. */
  readonly message: string;
  /** `"<field.path>: <message>"`, the form listed by {@link TopologyError}. */
  readonly text: string;
}

/** The outcome of {@link checkSpec}: the validated spec, or every problem found. */
export type SpecCheck =
  | { readonly ok: true; readonly spec: TopologySpec }
  | { readonly ok: false; readonly problems: readonly SpecProblem[] };

/**
 * Validates a topology object against the schema without throwing, collecting every problem (not just the
 * first). Unknown fields are problems, each named by its own path (`model.pathh: unknown field`), with a
 * suggestion when a known field is spelled alike.
 *
 * @example
 * ```ts
 * const check = checkSpec({ name: 'x', source: { type: 'redis' }, model: { pathh: 'm.onnx' } });
 * if (!check.ok) console.log(check.problems.map((p) => p.text));
 * // [ 'model.path: missing required field (expected string)',
 * //   'model.pathh: unknown field (did you mean "path"?)' ]
 * ```
 */
export function checkSpec(input: unknown): SpecCheck {
  const result = topologySchema.safeParse(input, { reportInput: true });
  if (result.success) return { ok: true, spec: result.data };
  const problems: SpecProblem[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.map(pathSegment);
    if (issue.code === 'unrecognized_keys') {
      const known = knownFields(path, input);
      for (const key of issue.keys) problems.push(problem([...path, key], `unknown field${suggestion(key, known)}`));
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      problems.push(problem(path, `missing required field (expected ${issue.expected})`));
    } else {
      problems.push(problem(path, issue.message));
    }
  }
  return { ok: false, problems };
}

/**
 * Validates a topology object (the parsed YAML, or what a TypeScript builder accumulated) and returns it
 * with defaults filled in.
 *
 * @throws {@link TopologyError} listing every problem as `"<field.path>: <message>"`.
 * @example
 * ```ts
 * const spec = validateSpec({ name: 'tiny', source: { type: 'redis' }, model: { path: '/m/tiny.onnx' } });
 * spec.batch.maxSize; // 32, the default
 * ```
 */
export function validateSpec(input: unknown): TopologySpec {
  const check = checkSpec(input);
  if (!check.ok) throw new TopologyError(check.problems.map((p) => p.text));
  return check.spec;
}

/**
 * Formats a field path the way problems show it: `batch.maxSize`, `source.brokers[0]`, `(root)` for the
 * topology itself.
 */
export function formatFieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out === '' ? '(root)' : out;
}

function problem(path: readonly (string | number)[], message: string): SpecProblem {
  return { path, message, text: `${formatFieldPath(path)}: ${message}` };
}

function pathSegment(seg: PropertyKey): string | number {
  return typeof seg === 'number' ? seg : String(seg);
}

/**
 * The fields the schema allows at `path`, found by walking the schema alongside the input (the input picks
 * the branch of a discriminated union, e.g. `source.type`). Empty when the walk cannot tell.
 */
function knownFields(path: readonly (string | number)[], input: unknown): readonly string[] {
  let schema: z.core.$ZodType | undefined = topologySchema;
  let value = input;
  for (const seg of [...path, undefined]) {
    schema = unwrap(schema, value);
    if (schema === undefined) return [];
    if (seg === undefined) break;
    if (!(schema instanceof z.ZodObject) || typeof seg !== 'string') return [];
    const shape: Record<string, z.core.$ZodType> = schema.shape;
    schema = shape[seg];
    value = isRecord(value) ? value[seg] : undefined;
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** Peels defaults, optionals and preprocessing, and picks the union branch the value's discriminator names. */
function unwrap(schema: z.core.$ZodType | undefined, value: unknown): z.core.$ZodType | undefined {
  for (let i = 0; i < 10 && schema !== undefined; i++) {
    if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) schema = schema.unwrap();
    else if (schema instanceof z.ZodPipe) schema = schema.out;
    else if (schema instanceof z.ZodDiscriminatedUnion) {
      const key = schema.def.discriminator;
      const tag = isRecord(value) ? value[key] : undefined;
      schema = schema.options.find((o) => o instanceof z.ZodObject && literalOf(o.shape[key]) === tag);
    } else return schema;
  }
  return schema;
}

function literalOf(schema: unknown): unknown {
  return schema instanceof z.ZodLiteral ? schema.value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function suggestion(key: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3))) return ` (did you mean "${best}"?)`;
  return ` (known fields: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
