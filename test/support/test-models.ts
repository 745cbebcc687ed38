import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxGraphBuilder, BATCH_DIM } from '../../src/models/onnx-graph';
import { ensureModels } from '../../src/models/generate';

/**
 * A model that fails at run time for some inputs: `a` [batch, n] + `b` [batch, m] throws in ONNX
 * Runtime when n ≠ m (and neither is 1), and succeeds when they agree.
 */
export function writeAddModel(dir: string): string {
  const g = new OnnxGraphBuilder();
  g.addInput('a', [BATCH_DIM, 'n']);
  g.addInput('b', [BATCH_DIM, 'm']);
  g.addNode('Add', ['a', 'b'], ['sum']);
  g.addOutput('sum', [BATCH_DIM, 'n']);
  const file = join(dir, 'add.onnx');
  writeFileSync(file, g.build({ graphName: 'add' }));
  return file;
}

/** The example models in a fresh temp dir, plus the failing Add model. */
export async function testModels(): Promise<{ dir: string; tiny: string; cnn: string; add: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-models-'));
  const { tiny, cnn } = await ensureModels(dir, ['tiny', 'cnn']);
  return { dir, tiny, cnn, add: writeAddModel(dir) };
}
