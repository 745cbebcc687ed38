import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { resultKey, splitStreamKey } from '../../src/cluster-api/keys';
import { partitionOf } from '../../src/client/partition';
import { decodeResult, encodeRequest, type NativeResult } from '../../src/protocol/native/native-codec';
import type { NamedTensors } from '../../src/tensor/tensor';

/**
 * A client for failure tests that, unlike InputQueue.predict, counts every reply per uri, so a test can
 * prove "exactly one result per request": it writes native requests at a steady pace with a reply
 * stream of its own and records each reply's arrival. Bounded in count and time.
 */
export class LoadGenerator {
  private readonly writer: Redis;
  private readonly reader: Redis;
  readonly replyKey: string;
  /** uri → send time (ms, performance.now()). */
  readonly sent = new Map<string, number>();
  /** uri → every result received for it, with arrival time. */
  readonly replies = new Map<string, { at: number; result: NativeResult }[]>();
  private lastId = '0';
  private reading: Promise<void> | undefined;
  private stopped = false;

  constructor(
    redisUrl: string,
    private readonly stream: string,
    private readonly partitions: number,
    private readonly inputs: (i: number) => NamedTensors,
    /** deleteResults: delete each result hash once its reply is read, as InputQueue.predict does. */
    private readonly options: { deleteResults?: boolean } = {},
  ) {
    this.writer = new Redis(redisUrl, { enableAutoPipelining: true });
    this.reader = new Redis(redisUrl);
    this.replyKey = `${stream}:reply:${randomUUID()}`;
  }

  startReading(): void {
    this.reading ??= (async () => {
      while (!this.stopped) {
        const reply = (await this.reader.xreadBuffer('COUNT', 1000, 'BLOCK', 200, 'STREAMS', this.replyKey, this.lastId)) as [Buffer, [Buffer, Buffer[]][]][] | null;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.lastId = id.toString();
            const data = fields[fields.findIndex((f) => f.toString() === 'data') + 1]!;
            const result = decodeResult(data);
            const list = this.replies.get(result.uri) ?? [];
            list.push({ at: performance.now(), result });
            this.replies.set(result.uri, list);
            if (this.options.deleteResults) void this.writer.del(resultKey(this.stream, result.uri)).catch(() => undefined);
          }
        }
      }
    })();
  }

  /** Sends `ratePerSecond` requests a second for `seconds` (paced in 10 ms ticks); `onTick` sees the elapsed ms. */
  async run(ratePerSecond: number, seconds: number, onTick?: (elapsedMs: number) => void | Promise<void>): Promise<void> {
    const start = performance.now();
    await this.pace(ratePerSecond, async () => {
      const elapsed = performance.now() - start;
      await onTick?.(elapsed);
      return elapsed >= seconds * 1000;
    });
  }

  /**
   * Sends `ratePerSecond` requests a second until `done()` answers true (asked every 10 ms tick): load that
   * lasts until an outcome, not for a fixed time. Throws when `done()` is still false after `maxWaitMs`.
   */
  async runUntil(ratePerSecond: number, done: () => boolean | Promise<boolean>, options: { maxWaitMs?: number; what?: string } = {}): Promise<void> {
    const { maxWaitMs = 120_000, what = 'the condition' } = options;
    const start = performance.now();
    await this.pace(ratePerSecond, async () => {
      if (await done()) return true;
      if (performance.now() - start > maxWaitMs) throw new Error(`load ran ${maxWaitMs} ms without ${what}`);
      return false;
    });
  }

  private async pace(ratePerSecond: number, stop: () => Promise<boolean>): Promise<void> {
    this.startReading();
    const start = performance.now();
    let sentHere = 0;
    while (!this.stopped && !(await stop())) {
      const due = Math.floor(((performance.now() - start) / 1000) * ratePerSecond);
      while (sentHere < due) {
        await this.sendOne(this.sent.size);
        sentHere++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** How many of `uris` have a reply. */
  answered(uris: readonly string[]): number {
    return uris.filter((u) => this.replies.has(u)).length;
  }

  /** The uris sent so far, in order, from index `from` on. */
  sentSince(from: number): string[] {
    return [...this.sent.keys()].slice(from);
  }

  private async sendOne(i: number): Promise<void> {
    const uri = `req-${i}-${randomUUID().slice(0, 8)}`;
    const stream = splitStreamKey(this.stream, this.partitions, partitionOf(uri, this.partitions));
    this.sent.set(uri, performance.now());
    await this.writer.xadd(stream, '*', 'uri', uri, 'data', encodeRequest(this.inputs(i), this.replyKey));
  }

  /** uris sent without a reply yet. */
  missing(): string[] {
    return [...this.sent.keys()].filter((u) => !this.replies.has(u));
  }

  /** uris with more than one reply. */
  duplicated(): string[] {
    return [...this.replies].filter(([, l]) => l.length > 1).map(([u]) => u);
  }

  /** Replies that arrived in [fromMs, toMs) (performance.now() times), per second. */
  rate(fromMs: number, toMs: number): number {
    let n = 0;
    for (const list of this.replies.values()) for (const r of list) if (r.at >= fromMs && r.at < toMs) n++;
    return n / ((toMs - fromMs) / 1000);
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.reading;
    await this.writer.del(this.replyKey);
    this.writer.disconnect();
    this.reader.disconnect();
  }
}
