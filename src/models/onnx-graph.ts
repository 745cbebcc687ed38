/**
 * A small builder that assembles ONNX graphs and serialises them to model bytes.
 *
 * The protobuf encoding itself is done by `onnx-proto`, the well-kept protobufjs build of the official
 * `onnx.proto` schema; this file only assembles graphs (initializers, nodes, typed inputs and outputs) so the
 * project can generate its own test, benchmark and demo models without downloading anything.
 */
import { onnx } from 'onnx-proto';

/** ONNX IR version written into every generated model (IR 7 pairs with opset 13 and loads in onnxruntime 1.x). */
export const ONNX_IR_VERSION = 7;

/** Default-domain opset written into every generated model. */
export const ONNX_OPSET = 13;

/** Name of the dynamic leading dimension of generated graph inputs and outputs. */
export const BATCH_DIM = 'batch';

/** One dimension of a graph input/output: a fixed size, or a symbolic name such as {@link BATCH_DIM}. */
export type OnnxDim = number | string;

/** A node attribute value, tagged with its ONNX attribute type (ONNX distinguishes INT from FLOAT). */
export type OnnxAttribute =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

/** Shorthand for an INT attribute. */
export function intAttr(value: number): OnnxAttribute {
  return { kind: 'int', value };
}

/** Shorthand for an INTS attribute. */
export function intsAttr(value: readonly number[]): OnnxAttribute {
  return { kind: 'ints', value };
}

/** Shorthand for a FLOAT attribute. */
export function floatAttr(value: number): OnnxAttribute {
  return { kind: 'float', value };
}

/** Options for the model-level metadata of {@link OnnxGraphBuilder.build}. */
export interface OnnxModelOptions {
  /** Graph name stored in the model. */
  readonly graphName: string;
  /** Free-text description stored as the model's doc string. */
  readonly docString?: string;
}

function toAttributeProto(name: string, attr: OnnxAttribute): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (attr.kind) {
    case 'int':
      return { name, type: T.INT, i: attr.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...attr.value] };
    case 'float':
      return { name, type: T.FLOAT, f: attr.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...attr.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(attr.value) };
  }
}

function floatTensorType(dims: readonly OnnxDim[]): onnx.ITypeProto {
  return {
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Little-endian bytes of a Float32Array, independent of host byte order (ONNX raw_data is little-endian): on a
 * little-endian host a view of the same memory (no copy: models with millions of weights are built at install).
 */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] ?? 0, true);
  return out;
}

/**
 * Accumulates float32 initializers, nodes and graph inputs/outputs, then encodes an ONNX model.
 *
 * Encoding is deterministic: the same sequence of calls yields byte-identical output.
 */
export class OnnxGraphBuilder {
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();

  /**
   * Adds a float32 constant tensor (weights, biases) and returns its name for use as a node input. The builder may
   * keep a view of `data` until {@link build}: hand it a fresh array and do not modify it afterwards.
   */
  addInitializer(name: string, dims: readonly number[], data: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length) {
      throw new Error(`initializer ${name}: dims [${dims.join(',')}] need ${expected} values, got ${data.length}`);
    }
    this.claim(name);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: littleEndianBytes(data),
    });
    return name;
  }

  /** Adds an operator node (default domain) and returns the name of its first output. */
  addNode(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttribute>> = {},
    name: string = outputs[0] ?? opType,
  ): string {
    const first = outputs[0];
    if (first === undefined) throw new Error(`node ${name}: at least one output is required`);
    this.nodes.push({
      name,
      opType,
      input: [...inputs],
      output: [...outputs],
      attribute: Object.keys(attributes)
        .sort()
        .map((key) => toAttributeProto(key, attributes[key] as OnnxAttribute)),
    });
    return first;
  }

  /** Declares a float32 graph input, e.g. `addInput('input', [BATCH_DIM, 16])`; returns its name. */
  addInput(name: string, dims: readonly OnnxDim[]): string {
    this.claim(name);
    this.inputs.push({ name, type: floatTensorType(dims) });
    return name;
  }

  /** Declares a float32 graph output produced by some node, e.g. `addOutput('output', [BATCH_DIM, 8])`. */
  addOutput(name: string, dims: readonly OnnxDim[]): string {
    this.outputs.push({ name, type: floatTensorType(dims) });
    return name;
  }

  /** Encodes the accumulated graph as an ONNX model (IR {@link ONNX_IR_VERSION}, opset {@link ONNX_OPSET}). */
  build(options: OnnxModelOptions): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'cluster-serving',
      producerVersion: '1',
      docString: options.docString ?? '',
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const err = onnx.ModelProto.verify(model);
    if (err !== null) throw new Error(`invalid ONNX model ${options.graphName}: ${err}`);
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`duplicate ONNX value name: ${name}`);
    this.names.add(name);
  }
}
