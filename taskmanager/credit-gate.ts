/**
 * Bounds the entries between source and sink: the read loop acquires credits before reading and the
 * sink releases them once results are written. Hand-written because it is twelve lines and RxJS has no
 * pull-based backpressure primitive.
 */
export class CreditGate {
  private available: number;
  private waiter: (() => void) | undefined;

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Waits until at least one credit is free, then takes up to `max`; 0 when `stop()` turned true. */
  async acquire(max: number, stop: () => boolean): Promise<number> {
    while (this.available <= 0) {
      if (stop()) return 0;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    if (stop()) return 0;
    const n = Math.min(max, this.available);
    this.available -= n;
    return n;
  }

  release(n: number): void {
    if (n <= 0) return;
    this.available += n;
    this.wake();
  }

  /** Lets a waiting acquire re-check its stop condition. */
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  get inFlight(): number {
    return this.capacity - this.available;
  }
}
