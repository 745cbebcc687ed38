import Redis from 'ioredis';
import type { Source, SourceEntry } from '../../src/connector/source';
import { CONSUMER_GROUP } from '../../src/cluster-api/keys';
import { ConnectorError } from '../../src/errors';

export interface RedisStreamSourceOptions {
  readonly url: string;
  /** The split stream keys this reader owns. */
  readonly splits: readonly string[];
  /** Stable within the job: a restarted reader with the same name gets its unacknowledged entries back. */
  readonly consumer: string;
  readonly group?: string;
}

type StreamReply = [Buffer, [Buffer, Buffer[] | null][]][] | null;

/**
 * Reads a job's split streams through the consumer group (XREADGROUP), one blocking connection per
 * reader. On start it first drains the entries delivered to this consumer name before and never
 * acknowledged (id `0`), then reads new ones (id `>`).
 */
export class RedisStreamSource implements Source {
  private readonly redis: Redis;
  private readonly group: string;
  /** Splits whose own pending backlog is not drained yet. */
  private readonly backlog: Set<string>;
  private closed = false;
  private started: Promise<void> | undefined;

  constructor(private readonly options: RedisStreamSourceOptions) {
    this.group = options.group ?? CONSUMER_GROUP;
    this.redis = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: `cs-source-${options.consumer}` });
    this.redis.on('error', () => undefined); // reconnects by itself; read() reports failures
    this.backlog = new Set(options.splits);
  }

  start(): Promise<void> {
    return (this.started ??= (async () => {
      await this.redis.connect();
      for (const split of this.options.splits) {
        try {
          await this.redis.xgroup('CREATE', split, this.group, '0', 'MKSTREAM');
        } catch (err) {
          if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw new ConnectorError(`cannot create consumer group on ${split}: ${String(err)}`, { cause: err });
        }
      }
    })());
  }

  async read(maxEntries: number, blockMs: number): Promise<SourceEntry[]> {
    if (this.closed) return [];
    const splits = this.options.splits;
    const pending = splits.filter((s) => this.backlog.has(s));
    const useBacklog = pending.length > 0;
    const keys = useBacklog ? pending : [...splits];
    const ids = keys.map(() => (useBacklog ? '0' : '>'));
    const args: (string | number)[] = ['GROUP', this.group, this.options.consumer, 'COUNT', maxEntries];
    if (!useBacklog) args.push('BLOCK', Math.max(1, Math.round(blockMs)));
    args.push('STREAMS', ...keys, ...ids);
    let reply: StreamReply;
    try {
      reply = (await (this.redis.xreadgroupBuffer as (...a: (string | number)[]) => Promise<unknown>)(...args)) as StreamReply;
    } catch (err) {
      if (this.closed) return [];
      throw new ConnectorError(`XREADGROUP failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const out: SourceEntry[] = [];
    const seen = new Set<string>();
    for (const [keyBuf, entries] of reply ?? []) {
      const split = keyBuf.toString();
      seen.add(split);
      for (const [idBuf, fields] of entries) {
        const entryId = idBuf.toString();
        if (!fields) {
          // Deleted while pending: nothing to process, just acknowledge it.
          await this.redis.xack(split, this.group, entryId);
          continue;
        }
        out.push(toEntry(split, entryId, fields));
      }
      if (useBacklog && entries.length < maxEntries) this.backlog.delete(split);
    }
    if (useBacklog) for (const k of keys) if (!seen.has(k)) this.backlog.delete(k);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redis.disconnect();
  }
}

function toEntry(split: string, entryId: string, fields: Buffer[]): SourceEntry {
  let uri = '';
  let data: Uint8Array = Buffer.alloc(0);
  let extra: Map<string, Uint8Array> | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    const value = fields[i + 1]!;
    if (name === 'uri') uri = value.toString();
    else if (name === 'data') data = value;
    else (extra ??= new Map()).set(name, value);
  }
  return extra ? { split, entryId, uri, data, extra } : { split, entryId, uri, data };
}
