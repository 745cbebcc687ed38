import type { OperatorFunction } from 'rxjs';
import type { TopologySpec } from './schema';
import type { InferenceRequest, InferenceResult } from '../tensor/records';

/**
 * A user-defined step of a TypeScript topology. It is applied to one record at a time: whatever it
 * throws (or an RxJS operator errors with) becomes an error result for that request alone, and a step
 * that emits nothing for a request yields an error result too, so every request still gets exactly one
 * visible outcome.
 */
export interface UserStep<T> {
  /** Shown in logs and errors. */
  readonly name: string;
  readonly operator: OperatorFunction<T, T>;
  /**
   * Most records inside the step at once (Flink's async I/O capacity). Unbounded when absent; 1 makes
   * the step take one record at a time, e.g. in front of a backend that serves one call at a time.
   */
  readonly concurrency?: number;
}

/**
 * A job as the TaskManager runs it: the validated spec plus the user-defined steps of a TypeScript
 * topology (none for YAML). `requestSteps` run after decode, before batching; `resultSteps` after
 * inference and the built-in postprocess, before the sink.
 */
export interface Topology {
  readonly spec: TopologySpec;
  readonly requestSteps: readonly UserStep<InferenceRequest>[];
  readonly resultSteps: readonly UserStep<InferenceResult>[];
}
