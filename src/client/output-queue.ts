import Redis from 'ioredis';
import { resultKey, resultKeyPrefix } from '../cluster-api/keys';
import { decodeResult, type NativeResult } from '../protocol/native/native-codec';

export interface OutputQueueOptions {
  /** Redis URL. @default CS_REDIS_URL or redis://127.0.0.1:6379 */
  readonly redis?: string;
  /** The job's stream name (the topology's `source.stream`, or its `name`). */
  readonly stream: string;
}

export type { NativeResult };

/**
 * Reads results by uri, as BigDL's OutputQueue does: `query` leaves the result in place, `dequeue`
 * takes (and deletes) every result there is.
 *
 * @example
 * const out = new OutputQueue({ stream: 'tiny' });
 * const r = await out.query('req-1'); // undefined until the result is written
 */
export class OutputQueue {
  private readonly redis: Redis;

  constructor(private readonly options: OutputQueueOptions) {
    this.redis = new Redis(options.redis ?? process.env.CS_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 3 });
  }

  /** The result of `uri`, or undefined while there is none. */
  async query(uri: string): Promise<NativeResult | undefined> {
    const value = await this.redis.hgetBuffer(resultKey(this.options.stream, uri), 'value');
    return value ? decodeResult(value) : undefined;
  }

  /** Every result currently stored for the job, removed as it is returned. */
  async dequeue(): Promise<NativeResult[]> {
    const prefix = resultKeyPrefix(this.options.stream);
    const out: NativeResult[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const tx = this.redis.multi();
      for (const k of keys) tx.hgetBuffer(k, 'value').del(k);
      const replies = (await tx.exec()) ?? [];
      for (let i = 0; i < replies.length; i += 2) {
        const value = replies[i]?.[1];
        if (Buffer.isBuffer(value)) out.push(decodeResult(value));
      }
    } while (cursor !== '0');
    return out;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
