import { ClusterServingError } from '../../errors';
import type { DType } from '../../tensor/tensor';
import { toElement, type ElementValue } from './element-codecs';

function bad(file: string, why: string): ClusterServingError {
  return new ClusterServingError('CS_ERR_BAD_REQUEST', `${file}: ${why}`);
}

/** A JSON array's values, flat in row-major order, and the shape of its nesting. */
export interface JsonArray {
  readonly shape: number[];
  readonly values: ElementValue[];
}

/**
 * Reads a JSON document of nested arrays (`[[0.1, 0.2], [0.3, 0.4]]`, or a flat array, or one number)
 * as values of `dtype`: the nesting must be rectangular; integers must be whole and in range (int64 also
 * takes decimal strings); bool takes true/false/0/1.
 *
 * @param file - shown in errors.
 * @throws ClusterServingError CS_ERR_BAD_REQUEST naming the file and the first position that is wrong.
 * @example
 * jsonArray('[[1, 2, 3]]', 'float32', 'x.json') // { shape: [1, 3], values: [1, 2, 3] }
 */
export function jsonArray(text: string, dtype: DType, file: string): JsonArray {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const shape: number[] = [];
  for (let level: unknown = doc; Array.isArray(level); level = level[0]) shape.push(level.length);
  const values: ElementValue[] = [];
  const walk = (node: unknown, depth: number, at: string): void => {
    if (depth < shape.length) {
      if (!Array.isArray(node) || node.length !== shape[depth]) {
        throw bad(file, `${at || 'the array'} is ${Array.isArray(node) ? `${node.length} long` : 'not an array'}, expected ${shape[depth]} entries (arrays must be rectangular)`);
      }
      node.forEach((child, i) => walk(child, depth + 1, `${at}[${i}]`));
      return;
    }
    if (Array.isArray(node)) throw bad(file, `${at} is nested deeper than its neighbours (arrays must be rectangular)`);
    const value = toElement(dtype, node);
    if (typeof value === 'object') throw bad(file, `${at || 'the value'}: ${value.problem}`);
    values.push(value);
  };
  walk(doc, 0, '');
  return { shape, values };
}
