import type Redis from 'ioredis';
import { createRedis } from '../../src/redis/create-redis';
import type { Sink } from '../../src/connector/sink';
import type { SourceEntry } from '../../src/connector/source';
import type { InferenceResult } from '../../src/tensor/records';
import type { PoisonVerdict } from '../../src/retry/poison-policy';
import { CONSUMER_GROUP, deadLetterKey } from '../../src/cluster-api/keys';
import { nativeResultFormat, type ResultFormat } from './result-format';
import { ClusterServingError, ConnectorError } from '../../src/errors';
import { defineLuaScripts, lua } from './lua-scripts';
import { fenceArgs, fencedError, type SubtaskFence } from './subtask-fence';

export interface RedisResultSinkOptions {
  readonly url: string;
  /** The job's stream name: results go to `<stream>:result:<uri>`. */
  readonly stream: string;
  readonly resultTtlMs: number;
  readonly replyMaxLen: number;
  readonly group?: string;
  /** Where results go and how they are encoded. @default the native protocol's */
  readonly format?: ResultFormat;
  /** The epoch the subtask was assigned with: a write after a newer one was assigned is refused (CS_ERR_FENCED). */
  readonly fence?: SubtaskFence;
  /** Results whose result key or reply key had the wrong type: written without it (their entries are acknowledged). */
  readonly onKeyConflict?: (uris: readonly string[]) => void;
}

/** A poison entry to park: the entry as read, where its result goes, and the policy's verdict. */
export interface PoisonEntry {
  readonly entry: SourceEntry;
  /** The uri the error result is written under (the entry's, or its id when it has none). */
  readonly uri: string;
  /** The client's reply stream, when the payload could be read far enough to know it. */
  readonly replyTo: string | undefined;
  readonly verdict: PoisonVerdict;
}

/**
 * Writes native results to Redis and acknowledges their entries in one script call per batch
 * (lua/writeResultsAndAck.lua): the result hash `value` (version byte + Avro Result) with a TTL, a reply
 * on the client's reply stream when it asked for one, then XACK + XDEL of the entry; an entry no longer
 * pending (written before, by this or another reader) is only acknowledged, whether or not the client
 * has deleted its result since. With a `fence`, a write
 * after the subtask's epoch was superseded writes nothing and rejects with CS_ERR_FENCED. Poison entries
 * are parked with {@link RedisResultSink.park} (lua/parkPoisonAndAck-5.lua): dead letter, error result
 * and acknowledgement as one step per entry.
 */
export class RedisResultSink implements Sink {
  private readonly redis: Redis;
  private started: Promise<void> | undefined;
  private readonly format: ResultFormat;

  constructor(private readonly options: RedisResultSinkOptions) {
    this.format = options.format ?? nativeResultFormat(options.stream);
    this.redis = createRedis(options.url, { label: 'cs-sink', lazyConnect: true, maxRetriesPerRequest: null, connectionName: 'cs-sink' });
    this.redis.on('error', () => undefined); // ioredis reconnects; write() waits for it
    defineLuaScripts(this.redis);
  }

  start(): Promise<void> {
    return (this.started ??= this.redis.connect());
  }

  async write(results: readonly InferenceResult[]): Promise<void> {
    if (results.length === 0) return;
    const { stream, fence } = this.options;
    const f = fenceArgs(fence, stream);
    const keys: string[] = [f.key];
    const argv: (string | Buffer)[] = [this.options.group ?? CONSUMER_GROUP, String(this.options.resultTtlMs), String(this.options.replyMaxLen), f.field, f.epoch];
    for (const r of results) {
      const rkey = this.format.key(r.uri);
      keys.push(r.ref.split, rkey, r.replyTo ?? rkey);
      argv.push(r.uri, this.format.encode(r), r.replyTo ? '1' : '0', r.ref.entryId);
    }
    let answer: (number | string)[];
    try {
      answer = await lua(this.redis).writeResultsAndAck(keys.length, ...keys, ...argv);
    } catch (err) {
      throw new ConnectorError(`writing ${results.length} results failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (Number(answer[0]) === 0 && fence) throw fencedError(fence, answer[1] ?? '?', `writing ${results.length} results`);
    const conflicts = answer.slice(2).map((i) => results[Number(i) - 1]!.uri);
    if (conflicts.length > 0) this.options.onKeyConflict?.(conflicts);
  }

  /**
   * Parks poison entries: each gets a copy in the dead-letter stream `<stream>:dead-letter` (its
   * original fields plus `split`, `id`, `deliveries`, `reason`), its CS_ERR_POISON result (and reply) and
   * its XACK + XDEL, in one atomic script call per entry. Idempotent per entry; fenced like write(). Resolves to the number
   * parked (entries whose result was already written are only acknowledged).
   */
  async park(items: readonly PoisonEntry[]): Promise<number> {
    const { stream, resultTtlMs, replyMaxLen, fence } = this.options;
    const group = this.options.group ?? CONSUMER_GROUP;
    const f = fenceArgs(fence, stream);
    try {
      const parked = await Promise.all(
        items.map(({ entry, uri, replyTo, verdict }) => {
          const rkey = this.format.key(uri);
          const fields: (string | Buffer)[] = ['uri', entry.uri, 'data', asBuffer(entry.data)];
          for (const [name, value] of entry.extra ?? []) fields.push(name, asBuffer(value));
          return lua(this.redis).parkPoisonAndAck(
            entry.split, rkey, replyTo ?? rkey, deadLetterKey(stream), f.key,
            group, String(resultTtlMs), String(replyMaxLen), uri, this.format.encode({ uri, outputs: undefined, error: verdict.error }), replyTo ? '1' : '0',
            entry.entryId, String(verdict.deliveries), verdict.reason, f.field, f.epoch, ...fields,
          );
        }),
      );
      if (fence && parked.some((p) => Number(p) < 0)) throw fencedError(fence, 'a newer epoch', `parking ${items.length} poison entries`);
      return parked.reduce((n, p) => n + Number(p), 0);
    } catch (err) {
      if (err instanceof ClusterServingError) throw err;
      throw new ConnectorError(`parking ${items.length} poison entries failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** A Buffer view of bytes (ioredis sends Buffers as they are, other typed arrays it would stringify). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
