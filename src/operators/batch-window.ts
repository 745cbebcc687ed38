import { Observable, asyncScheduler, asapScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

export interface BatchWindowOptions<T> {
  /** A batch closes as soon as it holds this many rows… */
  readonly maxSize: number;
  /** …or when its oldest item has waited this long (0: closes at the end of the current burst). */
  readonly maxDelayMs: number;
  /** Items with different keys never share a batch (e.g. a shape signature). */
  readonly key: (item: T) => string;
  /** Rows an item contributes (default 1). An item larger than maxSize forms a batch of its own. */
  readonly rows?: (item: T) => number;
  /**
   * Asked when a batch opens: true when nothing downstream waits (e.g. a model instance is idle and no
   * batch is queued for it). Such a batch closes at the end of the current burst instead of after
   * `maxDelayMs`: waiting for company would only add latency, and under load, when instances are busy,
   * batches still fill (and queued ones merge at dispatch). No timer runs on the single-request path.
   */
  readonly idle?: () => boolean;
}

interface OpenBatch<T> {
  items: T[];
  rows: number;
  timer: Subscription | undefined;
}

/**
 * Dynamic batching window. Unlike rxjs `bufferTime`, the delay starts at the first item of a batch (not
 * on a free-running clock) and an empty batch is never emitted. Each key has its own open batch and
 * timer. On completion, open batches are flushed in the order they were opened; on error they are
 * dropped with the error (their items were never acknowledged, so they will be redelivered).
 *
 * @example
 * requests$.pipe(batchWindow({ maxSize: 32, maxDelayMs: 5, key: (r) => shapeKey(r) }))
 */
export function batchWindow<T>(options: BatchWindowOptions<T>, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<T, T[]> {
  const { maxSize, maxDelayMs, key, idle } = options;
  const rowsOf = options.rows ?? (() => 1);
  // A zero delay means "whatever arrived in the same synchronous burst": flush on the asap queue.
  const burstScheduler = scheduler === asyncScheduler ? asapScheduler : scheduler;
  const timerScheduler = maxDelayMs === 0 ? burstScheduler : scheduler;
  return (source) =>
    new Observable<T[]>((subscriber) => {
      const open = new Map<string, OpenBatch<T>>();

      const flush = (k: string): void => {
        const batch = open.get(k);
        if (!batch) return;
        open.delete(k);
        batch.timer?.unsubscribe();
        if (batch.items.length > 0) subscriber.next(batch.items);
      };

      const subscription = source.subscribe({
        next: (item) => {
          let k: string;
          let rows: number;
          try {
            k = key(item);
            rows = rowsOf(item);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          let batch = open.get(k);
          if (batch && batch.rows + rows > maxSize) {
            flush(k);
            batch = undefined;
          }
          if (!batch) {
            const created: OpenBatch<T> = { items: [], rows: 0, timer: undefined };
            open.set(k, created);
            const now = idle?.() === true;
            created.timer = (now ? burstScheduler : timerScheduler).schedule(() => {
              if (open.get(k) === created) flush(k);
            }, now ? 0 : maxDelayMs);
            batch = created;
          }
          batch.items.push(item);
          batch.rows += rows;
          if (batch.rows >= maxSize) flush(k);
        },
        error: (err) => {
          for (const b of open.values()) b.timer?.unsubscribe();
          open.clear();
          subscriber.error(err);
        },
        complete: () => {
          for (const k of [...open.keys()]) flush(k);
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        for (const b of open.values()) b.timer?.unsubscribe();
        open.clear();
      };
    });
}
