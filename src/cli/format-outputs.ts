import type { DType, Tensor } from '../tensor/tensor';
import { readElements, type ElementValue } from './tensor-files/element-codecs';
import { formatTable } from './format-table';

/** Options of {@link formatOutputs}. */
export interface FormatOutputsOptions {
  /** Print every value of every tensor (otherwise a tensor of more than `maxValues` values is summarised). */
  readonly full?: boolean;
  /** @default 64 */
  readonly maxValues?: number;
}

const FLOATS: readonly string[] = ['float16', 'float32', 'float64'];
const PREVIEW = 8;
const TOP_ROWS = 16;

/** One value as text: floats with 6 significant digits (exponent form when very small or large), bool as true/false. */
export function formatValue(dtype: DType, value: ElementValue): string {
  if (dtype === 'bool') return value === 0 ? 'false' : 'true';
  if (typeof value === 'bigint' || !FLOATS.includes(dtype)) return String(value);
  if (!Number.isFinite(value) || value === 0) return String(value);
  const abs = Math.abs(value);
  return abs >= 1e-4 && abs < 1e6 ? String(Number(value.toPrecision(6))) : value.toExponential(4);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Nested brackets in numpy's style, one innermost row per line. */
function nested(values: readonly string[], shape: readonly number[], indent: string): string {
  if (shape.length === 0) return `${indent}${values[0] ?? ''}`;
  const render = (offset: number, dim: number, pad: string): string => {
    const size = shape[dim]!;
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    if (dim === shape.length - 1) return `[${values.slice(offset, offset + size).join(', ')}]`;
    const parts: string[] = [];
    for (let i = 0; i < size; i++) parts.push(render(offset + i * stride, dim + 1, `${pad} `));
    return `[${parts.join(`,\n${pad} `)}]`;
  };
  return `${indent}${render(0, 0, indent)}`;
}

/** The multi-index of a flat position. */
function indexOf(flat: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    out[d] = size === 0 ? 0 : flat % size;
    flat = size === 0 ? 0 : Math.floor(flat / size);
  }
  return out;
}

/** min, max, mean and the position of the largest value, for a summarised numeric tensor. */
function summary(t: Tensor, values: readonly ElementValue[]): string {
  if (t.dtype === 'bool') return `${values.filter((v) => v !== 0).length} true of ${values.length}`;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (v < min) min = v;
    if (v > max) {
      max = v;
      at = i;
    }
    sum += v;
  }
  const f = (v: number): string => formatValue(FLOATS.includes(t.dtype) ? t.dtype : 'float64', v);
  return `min ${f(min)}  max ${f(max)} at ${shapeText(indexOf(at, t.shape))}  mean ${f(sum / values.length)}`;
}

/** A topN pair (`o_indices`, `o_scores`) as a table: one line per rank, and per row when there are several. */
function formatTopN(base: string, indices: Tensor, scores: Tensor, full: boolean): string[] {
  const k = indices.shape[indices.shape.length - 1] ?? 1;
  const idx = readElements(indices.dtype, indices.data);
  const sc = readElements(scores.dtype, scores.data);
  const rows = k === 0 ? 0 : idx.length / k;
  const shown = full ? rows : Math.min(rows, TOP_ROWS);
  const table: string[][] = [];
  for (let r = 0; r < shown; r++) {
    for (let j = 0; j < k; j++) {
      const cells = [String(j + 1), formatValue(indices.dtype, idx[r * k + j]!), formatValue(scores.dtype, sc[r * k + j]!)];
      table.push(rows > 1 ? [String(r), ...cells] : cells);
    }
  }
  const header = rows > 1 ? ['ROW', 'RANK', 'INDEX', 'SCORE'] : ['RANK', 'INDEX', 'SCORE'];
  const lines = [`${base}: top ${k} (${base}_indices ${indices.dtype}, ${base}_scores ${scores.dtype}) ${shapeText(indices.shape)}`];
  lines.push(...formatTable(header, table).split('\n').map((l) => `  ${l}`));
  if (shown < rows) lines.push(`  … ${rows - shown} more rows (--full prints all)`);
  return lines;
}

/** One tensor: a heading (name, dtype, shape), then its values, or a summary when it is large. */
function formatTensor(name: string, t: Tensor, options: FormatOutputsOptions, note = ''): string[] {
  const values = readElements(t.dtype, t.data);
  const lines = [`${name}  ${t.dtype} ${shapeText(t.shape)}${note}`];
  if (options.full || values.length <= (options.maxValues ?? 64)) {
    lines.push(...nested(values.map((v) => formatValue(t.dtype, v)), t.shape, '  ').split('\n'));
    return lines;
  }
  lines.push(`  ${summary(t, values)}`);
  const preview = values.slice(0, PREVIEW).map((v) => formatValue(t.dtype, v));
  lines.push(`  first ${PREVIEW}: ${preview.join(', ')} … (${values.length} values; --full prints all)`);
  return lines;
}

/**
 * A result's outputs as text for `cs predict`: per output its name, dtype and shape, then its values
 * (nested like numpy; a summary with min, max, argmax and mean plus the first values for a tensor of
 * more than `maxValues`, unless `full`). A topN pair `o_indices` + `o_scores` prints as one table of
 * rank, index and score; `o_argmax` is marked as such.
 *
 * @example
 * formatOutputs(outputs, {}) // ['output  float32 [1, 8]', '  [[0.1, …]]']
 */
export function formatOutputs(outputs: ReadonlyMap<string, Tensor>, options: FormatOutputsOptions = {}): string[] {
  const lines: string[] = [];
  const done = new Set<string>();
  for (const [name, t] of outputs) {
    if (done.has(name)) continue;
    const topN = /^(.*)_(indices|scores)$/.exec(name);
    if (topN) {
      const base = topN[1]!;
      const indices = outputs.get(`${base}_indices`);
      const scores = outputs.get(`${base}_scores`);
      if (indices && scores && indices.shape.length > 0 && indices.shape.join() === scores.shape.join()) {
        lines.push(...formatTopN(base, indices, scores, options.full === true));
        done.add(`${base}_indices`).add(`${base}_scores`);
        continue;
      }
    }
    const argmax = /^(.*)_argmax$/.exec(name);
    lines.push(...formatTensor(name, t, options, argmax ? `  (argmax of ${argmax[1]} per row)` : ''));
    done.add(name);
  }
  return lines;
}

/** A value as JSON: numbers as they are, int64 as a number when exact (else a string), NaN and ±Infinity as strings, bool as true/false. */
function jsonValue(dtype: DType, v: ElementValue): number | string | boolean {
  if (dtype === 'bool') return v !== 0;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return Number.isFinite(v) ? v : String(v);
}

/** The outputs for `cs predict --json`: `{ outputs: { name: { dtype, shape, data } } }`, data flat in row-major order. */
export function outputsToJson(outputs: ReadonlyMap<string, Tensor>): { outputs: Record<string, { dtype: DType; shape: number[]; data: (number | string | boolean)[] }> } {
  const out: Record<string, { dtype: DType; shape: number[]; data: (number | string | boolean)[] }> = {};
  for (const [name, t] of outputs) out[name] = { dtype: t.dtype, shape: [...t.shape], data: readElements(t.dtype, t.data).map((v) => jsonValue(t.dtype, v)) };
  return { outputs: out };
}
