/*
 * The public surface of `cluster-serving` (STYLE R11): explicit, grouped exports only; internals
 * (connectors, runtime workers, JobManager and TaskManager classes) are not exported.
 */

// Topology builder: what a TypeScript topology module imports
export {
  topology,
  toTopology,
  TopologyStart,
  SourceStage,
  RequestStage,
  BatchStage,
  InferStage,
  ResultStage,
  FinishedTopology,
  type TopologyBuilder,
  type AsyncStepOptions,
} from './topology/builder';
export type { Topology, UserStep } from './topology/topology';
export { topologySchema, type TopologySpec, type TopologyInput } from './topology/schema';
export { validateSpec } from './topology/validate-spec';
export { loadTopologyFile, loadTopologySource, type LoadedTopology } from './topology/load-topology';

// Operators meant for user topologies
export { softmax, topN, argmax } from './operators/postprocess';
export { imageToTensor, type ImageToTensorOptions } from './operators/image-to-tensor';

// Records and tensors that user steps work on
export { errorResult, okResult, type InferenceRequest, type InferenceResult, type ResultError, type EntryRef } from './tensor/records';
export { toTypedArray, toValues, tensorFrom, elementCount, DTYPES, type DType, type Tensor, type NamedTensors, type TypedArray } from './tensor/tensor';
export { toFloat16, fromFloat16 } from './tensor/float16';

// The client
export { InputQueue, type InputQueueOptions, type PredictOptions } from './client/input-queue';
export { OutputQueue, type OutputQueueOptions, type NativeResult } from './client/output-queue';
export { imageInput, type Inputs, type TensorInput } from './client/tensor-input';
export { partitionOf } from './client/partition';

// Errors
export { ClusterServingError, RequestError, TopologyError, ConfigError, ConnectorError, ERROR_CODES, type ErrorCode } from './errors';
