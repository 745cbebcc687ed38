import { toClusterServingError } from '../errors';
import { backoffDelay, type BackoffOptions } from './backoff';

export interface RetryOptions extends BackoffOptions {
  /** Attempts in all, the first included. @default Infinity */
  readonly attempts?: number;
  /** Stops retrying when it returns true (e.g. the component is closing). */
  readonly stop?: () => boolean;
  /** Called before each wait, for logging. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it succeeds, retrying only errors that are `retriable` (ClusterServingError's flag;
 * errors of other kinds are programming errors and thrown at once), with exponential backoff.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? Infinity;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const e = toClusterServingError(err);
      if (!e.retriable || attempt + 1 >= attempts || options.stop?.()) throw err;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(err, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
