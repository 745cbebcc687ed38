/**
 * Compute and size of an ONNX CNN read from the graph itself: multiply-accumulates per run (Conv and Gemm nodes)
 * and the number of parameters (initializer elements).
 *
 * Hand-written because no maintained JavaScript package counts ONNX FLOPs (the Python tools, e.g. onnx-tool, need
 * a Python environment); it walks the nodes in graph order with a small shape inference that covers the operators
 * the project's CNNs use and rejects any other, so a count is never silently wrong.
 */
import { onnx } from 'onnx-proto';

/** What {@link onnxGraphStats} reports for one run of the graph. */
export interface OnnxGraphStats {
  /** Multiply-accumulates of all Conv and Gemm nodes (one multiply-add = 1, the MobileNet/torchvision convention). */
  readonly macs: number;
  /** Elements of all initializers (weights, biases, constants). */
  readonly parameters: number;
}

type Shape = readonly number[];

function ints(node: onnx.INodeProto, name: string, fallback: readonly number[]): readonly number[] {
  const attr = node.attribute?.find((a) => a.name === name);
  return attr?.ints ? attr.ints.map(Number) : fallback;
}

function int(node: onnx.INodeProto, name: string, fallback: number): number {
  const attr = node.attribute?.find((a) => a.name === name);
  return attr?.i === undefined || attr.i === null ? fallback : Number(attr.i);
}

/** Output shape of a 2-D Conv/MaxPool window over an NCHW input (explicit pads only; auto_pad is not supported). */
function windowOut(node: onnx.INodeProto, input: Shape, kernel: readonly number[], channels: number): Shape {
  if (node.attribute?.some((a) => a.name === 'auto_pad' && a.s && new TextDecoder().decode(a.s) !== 'NOTSET')) {
    throw new Error(`node ${node.name}: auto_pad is not supported`);
  }
  const strides = ints(node, 'strides', [1, 1]);
  const pads = ints(node, 'pads', [0, 0, 0, 0]);
  const dilations = ints(node, 'dilations', [1, 1]);
  const spatial = [0, 1].map((i) => {
    const extent = (dilations[i] ?? 1) * ((kernel[i] ?? 1) - 1) + 1;
    return Math.floor(((input[2 + i] ?? 0) + (pads[i] ?? 0) + (pads[i + 2] ?? 0) - extent) / (strides[i] ?? 1)) + 1;
  });
  return [input[0] ?? 0, channels, ...spatial];
}

/**
 * Counts MACs and parameters of `model` for one run with the given concrete shapes of its graph inputs
 * (e.g. `{ input: [1, 3, 224, 224] }`). Throws on an operator it has no shape rule for.
 */
export function onnxGraphStats(model: Uint8Array, inputShapes: Readonly<Record<string, Shape>>): OnnxGraphStats {
  const graph = onnx.ModelProto.decode(model).graph;
  if (!graph) throw new Error('model has no graph');
  const shapes = new Map<string, Shape>();
  let parameters = 0;
  for (const init of graph.initializer ?? []) {
    const dims = (init.dims ?? []).map(Number);
    shapes.set(init.name ?? '', dims);
    parameters += dims.reduce((a, b) => a * b, 1);
  }
  for (const [name, shape] of Object.entries(inputShapes)) shapes.set(name, shape);

  let macs = 0;
  for (const node of graph.node ?? []) {
    const shapeOf = (i: number): Shape => {
      const name = node.input?.[i] ?? '';
      const s = shapes.get(name);
      if (!s) throw new Error(`node ${node.name}: no shape for input ${name}`);
      return s;
    };
    let out: Shape;
    switch (node.opType) {
      case 'Conv': {
        const x = shapeOf(0);
        const w = shapeOf(1); // [M, C/group, kH, kW]
        const group = int(node, 'group', 1);
        if ((x[1] ?? 0) !== (w[1] ?? 0) * group) throw new Error(`node ${node.name}: ${x[1]} input channels vs weights ${w.join('×')} in ${group} groups`);
        out = windowOut(node, x, w.slice(2), w[0] ?? 0);
        macs += out.reduce((a, b) => a * b, 1) * (w[1] ?? 0) * (w[2] ?? 0) * (w[3] ?? 0);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = shapeOf(0);
        out = windowOut(node, x, ints(node, 'kernel_shape', []), x[1] ?? 0);
        break;
      }
      case 'GlobalAveragePool': {
        const x = shapeOf(0);
        out = [x[0] ?? 0, x[1] ?? 0, 1, 1];
        break;
      }
      case 'Flatten': {
        const x = shapeOf(0);
        const axis = int(node, 'axis', 1);
        out = [x.slice(0, axis).reduce((a, b) => a * b, 1), x.slice(axis).reduce((a, b) => a * b, 1)];
        break;
      }
      case 'Gemm': {
        const a = shapeOf(0);
        const b = shapeOf(1);
        const [m, k] = int(node, 'transA', 0) ? [a[1] ?? 0, a[0] ?? 0] : [a[0] ?? 0, a[1] ?? 0];
        const n = int(node, 'transB', 0) ? (b[0] ?? 0) : (b[1] ?? 0);
        out = [m, n];
        macs += m * k * n;
        break;
      }
      case 'Relu':
      case 'Clip':
        out = shapeOf(0);
        break;
      case 'Add': {
        const a = shapeOf(0);
        const b = shapeOf(1);
        if (a.join() !== b.join()) throw new Error(`node ${node.name}: Add of ${a.join('×')} and ${b.join('×')} (broadcasting is not supported)`);
        out = a;
        break;
      }
      default:
        throw new Error(`node ${node.name}: operator ${node.opType} has no shape rule`);
    }
    for (const name of node.output ?? []) shapes.set(name, out);
  }
  return { macs, parameters };
}
