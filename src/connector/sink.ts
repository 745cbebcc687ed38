import type { InferenceResult } from '../tensor/records';

/**
 * The seam for where results go. Guarantees:
 * - idempotent per request: writing the result of the same entry twice (after a redelivery) shows
 *   clients one result and sends one reply;
 * - the entries are acknowledged (and trimmed) in the same atomic step as their results are written,
 *   never before.
 */
export interface Sink {
  start(): Promise<void>;
  /** Writes results and acknowledges their entries, as one step per call. */
  write(results: readonly InferenceResult[]): Promise<void>;
  close(): Promise<void>;
}
