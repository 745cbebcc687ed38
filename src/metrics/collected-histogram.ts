import { Histogram } from 'prom-client';

/** One labelled histogram as counted elsewhere: per-bucket counts (not cumulative, one per bound plus overflow) and their sum. */
export interface BucketSeries<T extends string> {
  readonly labels: Readonly<Record<T, string>>;
  readonly counts: ArrayLike<number>;
  readonly sum: number;
}

type HistogramData = Awaited<ReturnType<Histogram['get']>>;

/**
 * A prom-client Histogram whose buckets are read when scraped from counts kept elsewhere (SubtaskMeter's
 * plain bucket arrays), instead of one `observe()` per value: prom-client has no bulk observe, and its
 * `observe` builds a label key on every call, about 50 times the cost of a bucket increment, on the
 * per-request path. Output is prom-client's own histogram format (`_bucket` with `le`, `_sum`, `_count`);
 * `observe` is not used.
 *
 * Overrides `get()` (JSON) and `getForPromString()` (the text format, prom-client 15's Registry calls it
 * when a metric has it).
 *
 * @example
 * new CollectedHistogram({ name: 'cs_batch_size', help: '…', labelNames: ['job'], buckets: [1, 2, 4], registers: [registry],
 *   read: () => [{ labels: { job: 'tiny' }, counts: [3, 1, 0, 0], sum: 5 }] });
 */
export class CollectedHistogram<T extends string> extends Histogram<T> {
  private readonly bounds: readonly number[];
  private readonly read: () => Iterable<BucketSeries<T>> | Promise<Iterable<BucketSeries<T>>>;

  constructor(config: { name: string; help: string; labelNames: readonly T[]; buckets: readonly number[]; registers: NonNullable<ConstructorParameters<typeof Histogram<T>>[0]['registers']>; read: () => Iterable<BucketSeries<T>> | Promise<Iterable<BucketSeries<T>>> }) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames, buckets: [...config.buckets], registers: config.registers });
    this.bounds = config.buckets;
    this.read = config.read;
  }

  override async get(): Promise<HistogramData> {
    // Set by prom-client's constructor (not in its type declarations).
    const { name, help, type, aggregator } = this as unknown as Pick<HistogramData, 'name' | 'help' | 'type' | 'aggregator'>;
    const values: HistogramData['values'] = [];
    for (const series of await this.read()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += series.counts[i] ?? 0;
        values.push({ labels: { ...series.labels, le: this.bounds[i]! }, value: cumulative, metricName: `${name}_bucket` });
      }
      const count = cumulative + (series.counts[this.bounds.length] ?? 0);
      values.push({ labels: { ...series.labels, le: '+Inf' }, value: count, metricName: `${name}_bucket` });
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${name}_sum` });
      values.push({ labels: { ...series.labels }, value: count, metricName: `${name}_count` });
    }
    return { name, help, type, aggregator, values } as HistogramData;
  }

  /** What prom-client 15's Registry formats as text. */
  getForPromString(): Promise<HistogramData> {
    return this.get();
  }
}
