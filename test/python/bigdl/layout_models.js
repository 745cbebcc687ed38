// Writes two image models for the layout tests into the folder argv[2], with the repository's own ONNX
// builder (built into dist/): channel_means_nhwc.onnx, input [batch, h, w, 3] → ReduceMean over h, w →
// [batch, 3], and channel_means_nchw.onnx, the same for input [batch, 3, h, w]. Each output is the mean of
// each channel as the server laid the image out, so a wrong layout shows (or fails the shape check).
const { join } = require('node:path');
const { writeFileSync } = require('node:fs');
const root = join(__dirname, '..', '..', '..');
const { OnnxGraphBuilder, BATCH_DIM, intsAttr, intAttr } = require(join(root, 'dist', 'src', 'models', 'onnx-graph.js'));

for (const [layout, dims, axes] of [
  ['nhwc', [BATCH_DIM, 'h', 'w', 3], [1, 2]],
  ['nchw', [BATCH_DIM, 3, 'h', 'w'], [2, 3]],
]) {
  const g = new OnnxGraphBuilder();
  g.addInput('image', dims);
  g.addNode('ReduceMean', ['image'], ['means'], { axes: intsAttr(axes), keepdims: intAttr(0) });
  g.addOutput('means', [BATCH_DIM, 3]);
  writeFileSync(join(process.argv[2], `channel_means_${layout}.onnx`), g.build({ graphName: `channel_means_${layout}` }));
}
