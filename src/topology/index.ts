/*
 * The topology model (SPEC §4): schema and validation, the DataStream-style builder, and the loaders of
 * both file forms. Explicit exports only; `packageRoot`/`frameworkEntry` stay internal to the package.
 */

// Model and schema
export type { Topology, UserStep } from './topology';
export {
  topologySchema,
  type TopologySpec,
  type TopologyInput,
  type SourceSpec,
  type DecodeSpec,
  type BatchSpec,
  type ModelSpec,
  type PostprocessSpec,
  type SinkSpec,
} from './schema';

// Validation
export { validateSpec, checkSpec, formatFieldPath, type SpecProblem, type SpecCheck } from './validate-spec';

// Builder (TypeScript form)
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
  type SourceInput,
  type DecodeInput,
  type BatchInput,
  type ModelInput,
  type SinkInput,
  type PostprocessInput,
} from './builder';

// Loaders
export { parseYamlTopology } from './load-yaml';
export { loadTopologyModule } from './load-module';
export { typecheckTopologyModule, type TypecheckOptions } from './typecheck-module';
export { loadTopologyFile, loadTopologySource, type LoadTopologyOptions, type LoadedTopology, type TopologySource } from './load-topology';
