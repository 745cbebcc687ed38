import type { Redis } from 'ioredis';
import { resultKey, resultKeyPrefix } from '../cluster-api/keys';
import { decodeResult, type NativeResult } from '../protocol/native/native-codec';
import { createRedis, redisFatalError } from '../redis/create-redis';
import { clientRedisCredentials, type RedisSecurity } from '../redis/redis-security';
import { retryRedis } from '../redis/retry-redis';

/** TLS files and password as for InputQueue (each defaults to its CS_REDIS_* environment variable). */
export interface OutputQueueOptions extends RedisSecurity {
  /** Redis URL. @default CS_REDIS_URL or redis://127.0.0.1:6379 */
  readonly redis?: string;
  /** The job's stream name (the topology's `source.stream`, or its `name`). */
  readonly stream: string;
  /** How long one call waits for a Redis that is away (restarting, loading). @default 10000 */
  readonly timeoutMs?: number;
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
  private readonly url: string;

  constructor(private readonly options: OutputQueueOptions) {
    this.url = options.redis ?? process.env.CS_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const credentials = clientRedisCredentials(options);
    this.redis = createRedis(this.url, { maxRetriesPerRequest: 1, credentials, label: `cs-output-${options.stream}` });
  }

  /** One call, sent again while Redis is away, up to `timeoutMs`. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return retryRedis(fn, { url: this.url, deadline: Date.now() + (this.options.timeoutMs ?? 10_000), fatal: () => redisFatalError(this.redis) });
  }

  /** The result of `uri`, or undefined while there is none. */
  async query(uri: string): Promise<NativeResult | undefined> {
    const value = await this.call(() => this.redis.hgetBuffer(resultKey(this.options.stream, uri), 'value'));
    return value ? decodeResult(value) : undefined;
  }

  /** Every result currently stored for the job, removed as it is returned. */
  async dequeue(): Promise<NativeResult[]> {
    const prefix = resultKeyPrefix(this.options.stream);
    const out: NativeResult[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.call(() => this.redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000));
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
