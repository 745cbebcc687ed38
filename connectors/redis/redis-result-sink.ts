import Redis from 'ioredis';
import type { Sink } from '../../src/connector/sink';
import type { InferenceResult } from '../../src/tensor/records';
import { CONSUMER_GROUP, resultKey } from '../../src/cluster-api/keys';
import { encodeResult } from '../../src/protocol/native/native-codec';
import { ConnectorError } from '../../src/errors';
import { defineLuaScripts, lua } from './lua-scripts';

export interface RedisResultSinkOptions {
  readonly url: string;
  /** The job's stream name: results go to `<stream>:result:<uri>`. */
  readonly stream: string;
  readonly resultTtlMs: number;
  readonly replyMaxLen: number;
  readonly group?: string;
}

/**
 * Writes native results to Redis and acknowledges their entries in one script call per batch
 * (lua/writeResultsAndAck.lua): the result hash `value` (version byte + Avro Result) with a TTL, a reply
 * on the client's reply stream when it asked for one, then XACK + XDEL of the entry.
 */
export class RedisResultSink implements Sink {
  private readonly redis: Redis;
  private started: Promise<void> | undefined;

  constructor(private readonly options: RedisResultSinkOptions) {
    this.redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: 'cs-sink' });
    this.redis.on('error', () => undefined); // ioredis reconnects; write() waits for it
    defineLuaScripts(this.redis);
  }

  start(): Promise<void> {
    return (this.started ??= this.redis.connect());
  }

  async write(results: readonly InferenceResult[]): Promise<void> {
    if (results.length === 0) return;
    const keys: string[] = [];
    const argv: (string | Buffer)[] = [this.options.group ?? CONSUMER_GROUP, String(this.options.resultTtlMs), String(this.options.replyMaxLen)];
    for (const r of results) {
      const rkey = resultKey(this.options.stream, r.uri);
      keys.push(r.ref.split, rkey, r.replyTo ?? rkey);
      argv.push(r.uri, encodeResult(r.uri, r.outputs, r.error), r.replyTo ? '1' : '0', r.ref.entryId);
    }
    try {
      await lua(this.redis).writeResultsAndAck(keys.length, ...keys, ...argv);
    } catch (err) {
      throw new ConnectorError(`writing ${results.length} results failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
