import { ClusterServingError } from '../errors';
import type { ResultError } from '../tensor/records';

/** Deliveries after which an entry is poison, when the topology says nothing (`source.maxDeliveries`). */
export const DEFAULT_MAX_DELIVERIES = 3;

/** Why an entry is not processed again: the dead-letter `reason` and the error result the client sees. */
export interface PoisonVerdict {
  readonly deliveries: number;
  readonly reason: string;
  readonly error: ResultError;
}

export interface PoisonPolicyOptions {
  /** @default DEFAULT_MAX_DELIVERIES */
  readonly maxDeliveries?: number;
  /** Named in the reason and the error message, e.g. `orders:dead-letter`. */
  readonly deadLetterStream: string;
}

/**
 * Bounded attempts for requests that keep coming back (SPEC §6, STYLE R8). Processing is
 * at-least-once: an entry whose reader died before writing its result is delivered again, to the
 * restarted reader or to another one that claims it. An entry that takes its reader down every time
 * (a model crash, an out-of-memory) would do so forever; once it has been delivered more than
 * `maxDeliveries` times it is poison: not processed again, but parked in the dead-letter stream with a
 * `CS_ERR_POISON` result, written and acknowledged like any result.
 *
 * @example
 * const policy = new PoisonPolicy({ maxDeliveries: 3, deadLetterStream: 'orders:dead-letter' });
 * policy.check({ deliveries: 4 }); // → { deliveries: 4, reason: '…', error: { code: 'CS_ERR_POISON', … } }
 * policy.check({ deliveries: 1 }); // → undefined: process it
 */
export class PoisonPolicy {
  readonly maxDeliveries: number;

  constructor(private readonly options: PoisonPolicyOptions) {
    this.maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
    if (!Number.isInteger(this.maxDeliveries) || this.maxDeliveries < 1) {
      throw new ClusterServingError('CS_ERR_CONFIG', `maxDeliveries must be an integer ≥ 1, got ${this.maxDeliveries}`);
    }
  }

  /** A verdict when the entry must not be processed again; undefined otherwise (also when its delivery count is unknown). */
  check(entry: { readonly deliveries?: number }): PoisonVerdict | undefined {
    const deliveries = entry.deliveries;
    if (deliveries === undefined || deliveries <= this.maxDeliveries) return undefined;
    const reason = `delivered ${deliveries} times without a result (source.maxDeliveries is ${this.maxDeliveries})`;
    return {
      deliveries,
      reason,
      error: { code: 'CS_ERR_POISON', message: `request ${reason}: not processed again, parked in ${this.options.deadLetterStream}` },
    };
  }
}
