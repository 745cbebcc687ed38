import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ClusterServingError } from '../../src/errors';
import { ensureModels } from '../../src/models/generate';
import { decodeOnnxModelInfo, readOnnxModelInfo } from '../../src/runtime/onnx-model-info';
import { writeAddModel } from '../support/test-models';

/** An IR 3 style model: the weight `w` is listed among the graph inputs too (it is also an initializer). */
function modelWithInitializerInput(): Uint8Array {
  const T = onnx.TensorProto.DataType;
  const tensorType = (elemType: number, dims: onnx.TensorShapeProto.IDimension[]): onnx.ITypeProto => ({ tensorType: { elemType, shape: { dim: dims } } });
  return onnx.ModelProto.encode({
    irVersion: 3,
    opsetImport: [{ domain: '', version: 8 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
      initializer: [{ name: 'w', dims: [3], dataType: T.INT64, int64Data: [1, 2, 3] }],
      input: [
        { name: 'x', type: tensorType(T.INT64, [{ dimParam: 'n' }, { dimValue: 3 }]) },
        { name: 'w', type: tensorType(T.INT64, [{ dimValue: 3 }]) },
        { name: 'h', type: tensorType(T.BFLOAT16, [{}, { dimValue: 2 }]) },
      ],
      output: [{ name: 'y', type: tensorType(T.INT64, [{ dimParam: 'n' }, { dimValue: 3 }]) }],
    },
  }).finish();
}

describe('ONNX model info from the protobuf (no inference session)', () => {
  let dir: string;
  let models: { tiny: string; cnn: string; add: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-model-info-'));
    models = { ...(await ensureModels(dir, ['tiny', 'cnn'])), add: writeAddModel(dir) };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads inputs and outputs with symbolic dimensions as -1, as onnxruntime-node declares them', async () => {
    for (const path of [models.tiny, models.cnn, models.add]) {
      const info = await readOnnxModelInfo(path);
      const session = await ort.InferenceSession.create(path);
      try {
        const fromOrt = (meta: readonly ort.InferenceSession.ValueMetadata[]) =>
          meta.map((m) => (m.isTensor ? { name: m.name, dtype: m.type, shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)) } : { name: m.name }));
        assert.deepEqual(info.inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })), fromOrt(session.inputMetadata), path);
        assert.deepEqual(info.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })), fromOrt(session.outputMetadata), path);
      } finally {
        await session.release();
      }
    }
    const tiny = await readOnnxModelInfo(models.tiny);
    assert.deepEqual(tiny, {
      inputs: [{ name: 'input', dtype: 'float32', shape: [-1, 16], elemType: 'FLOAT' }],
      outputs: [{ name: 'output', dtype: 'float32', shape: [-1, 8], elemType: 'FLOAT' }],
    });
  });

  it('leaves initializers out of the inputs and keeps unserved element types by name', () => {
    const info = decodeOnnxModelInfo(modelWithInitializerInput());
    assert.deepEqual(info.inputs, [
      { name: 'x', dtype: 'int64', shape: [-1, 3], elemType: 'INT64' },
      { name: 'h', dtype: undefined, shape: [-1, 2], elemType: 'BFLOAT16' },
    ]);
    assert.deepEqual(info.outputs, [{ name: 'y', dtype: 'int64', shape: [-1, 3], elemType: 'INT64' }]);
  });

  it('fails with CS_ERR_MODEL_LOAD for a missing file or bytes that are not a model', async () => {
    await assert.rejects(readOnnxModelInfo(join(dir, 'missing.onnx')), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD' && /cannot read model file .*missing\.onnx: no such file/.test(err.message));
    const junk = join(dir, 'junk.onnx');
    await writeFile(junk, 'this is not a protobuf at all');
    await assert.rejects(readOnnxModelInfo(junk), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_MODEL_LOAD' && /junk\.onnx is not an ONNX model/.test(err.message));
    await writeFile(junk, Buffer.alloc(0));
    await assert.rejects(readOnnxModelInfo(junk), /no graph outputs/);
  });
});
