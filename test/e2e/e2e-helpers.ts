import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { TopologySource } from '../../src/cluster-api/dto';
import { tinyReference } from '../../src/models/tiny-mlp';
import { tensorFrom, toTypedArray, type NamedTensors } from '../../src/tensor/tensor';
import type { LoadGenerator } from '../support/load-generator';

/** Writes a topology file into `dir` and returns it as the CLI would submit it. */
export function topologyFile(dir: string, filename: string, text: string): TopologySource {
  const file = join(dir, filename);
  writeFileSync(file, text);
  return { filename: basename(file), source: text, baseDir: dirname(file) };
}

/** The tiny model's input for request number i (deterministic, so results can be checked). */
export function tinyInput(i: number): NamedTensors {
  return new Map([['input', tensorFrom(Float32Array.from({ length: 16 }, (_, k) => Math.sin(i * 0.37 + k)), [1, 16])]]);
}

/** Every reply is a success equal to the tiny model computed directly on its request's input. */
export function checkTinyResults(gen: LoadGenerator): string[] {
  const problems: string[] = [];
  for (const [uri, list] of gen.replies) {
    const r = list[0]!.result;
    if (r.error) {
      problems.push(`${uri}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    const i = Number(/^req-(\d+)-/.exec(uri)?.[1]);
    const want = tinyReference(toTypedArray(tinyInput(i).get('input')!) as Float32Array, 1);
    const got = toTypedArray(r.outputs.get('output')!) as Float32Array;
    if (got.some((v, k) => Math.abs(v - want[k]!) > 1e-5)) problems.push(`${uri}: wrong output`);
  }
  return problems;
}
