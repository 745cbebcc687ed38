/** Exponential backoff with jitter, the one policy every retry loop of the product uses. */
export interface BackoffOptions {
  /** @default 50 */
  readonly initialMs?: number;
  /** @default 5000 */
  readonly maxMs?: number;
  /** @default 2 */
  readonly factor?: number;
  /** Fraction of the delay randomised either way. @default 0.2 */
  readonly jitter?: number;
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { initialMs = 50, maxMs = 5000, factor = 2, jitter = 0.2 } = options;
  const base = Math.min(maxMs, initialMs * factor ** attempt);
  return Math.max(0, base * (1 + jitter * (2 * Math.random() - 1)));
}
