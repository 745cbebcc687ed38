import type Redis from 'ioredis';
import { readGroupLoad, type GroupLoad } from '../../src/redis/read-group-load';
import { createRedis } from '../../src/redis/create-redis';
import type { Source, SourceEntry } from '../../src/connector/source';
import { CONSUMER_GROUP, fencesKey } from '../../src/cluster-api/keys';
import { ConnectorError } from '../../src/errors';
import { BufferRecycler } from '../../src/connector/buffer-recycler';
import type { EntryRef } from '../../src/tensor/records';
import { RespConnection } from '../../src/redis/resp-connection';
import type { RespValue } from '../../src/redis/resp-parser';
import { fencedError, isFenced, isStale, type SubtaskFence } from './subtask-fence';

/** How often `read()` looks for entries left pending by readers that stopped (ms). */
export const DEFAULT_CLAIM_INTERVAL_MS = 1000;
/** How long an entry must have been pending before another reader takes it over (ms). */
export const DEFAULT_CLAIM_MIN_IDLE_MS = 5000;

export interface RedisStreamSourceOptions {
  readonly url: string;
  /** The split stream keys this reader owns. */
  readonly splits: readonly string[];
  /** Stable within the job: a restarted reader with the same name gets its unacknowledged entries back. */
  readonly consumer: string;
  readonly group?: string;
  /** How often `read()` claims abandoned entries of its splits, in ms. @default 1000 */
  readonly claimIntervalMs?: number;
  /**
   * An entry pending this long (ms) on any reader of the group is presumed abandoned (its reader died)
   * and claimed. Must be longer than any batch takes from read to result written: a healthy entry
   * claimed early is processed twice (harmless for clients, the sink being idempotent per entry, but it
   * counts as one more delivery towards the poison limit). @default 5000
   */
  readonly claimMinIdleMs?: number;
  /**
   * Whether this reader still processes an entry it read (e.g. the runner's checkpoint tracker knows).
   * Entries pending on this reader's own consumer name that it no longer processes (a sink write
   * failed) are then claimed back like anybody else's. Without it, own entries are never claimed: they
   * come back through the id-`0` re-read when a reader with this name starts again.
   */
  readonly ownInFlight?: (split: string, entryId: string) => boolean;
  /**
   * Which byte of a payload should be 8-byte aligned in memory, from the payload's first bytes (e.g. where
   * a native request's tensor data starts: `firstTensorOffset`), so that batches gather from payloads at
   * full speed. Undefined: payloads start aligned.
   */
  readonly payloadAlignment?: (head: Uint8Array) => number | undefined;
  /**
   * The epoch this reader's subtask was assigned with: every claim round first checks it, and a reader
   * whose epoch was superseded (its subtask moved) claims nothing and fails its read with CS_ERR_FENCED.
   */
  readonly fence?: SubtaskFence;
  /**
   * Consumers whose pending entries this reader takes over at once (min-idle 0) rather than after
   * `claimMinIdleMs`: earlier holders of this reader's subtask, which the JobManager declared lost and
   * fenced (they can no longer write a result). The first claim round then runs as soon as the own
   * backlog is read.
   */
  readonly takeOver?: (consumer: string) => boolean;
  /**
   * Called when a split's stream or consumer group was found missing (NOGROUP: the stream was deleted,
   * expired, or Redis restarted without persistence) and the group was created again (MKSTREAM), so the
   * owner can report it. Entries the lost stream held are gone; new ones are read.
   */
  readonly onGroupRecreated?: (split: string) => void;
}

type StreamReply = [Buffer, [Buffer, Buffer[] | null][]][] | null;
/** An XPENDING extended-form row: id, consumer, ms idle, deliveries so far. */
type PendingRow = [string, string, number, number];

/** XPENDING rows looked at per call while claiming. */
const CLAIM_PAGE = 128;
/** XPENDING pages looked at per split and claim round (bounds one round's work). */
const CLAIM_PAGES = 8;

/**
 * Reads a job's split streams through the consumer group (XREADGROUP), one blocking connection per
 * reader. On start it first drains the entries delivered to this consumer name before and never
 * acknowledged (id `0`), then reads new ones (id `>`). Every `claimIntervalMs` it also takes over
 * entries that have been pending longer than `claimMinIdleMs` on any consumer (a TaskManager that
 * died, whose subtasks the JobManager gave to others), within the caller's `maxEntries`.
 *
 * Claiming uses XPENDING with IDLE, then XCLAIM with the same min-idle time, rather than XAUTOCLAIM:
 * XPENDING reports each entry's delivery count (XAUTOCLAIM does not), which the poison policy needs,
 * and lets us leave out entries this reader itself still processes. XCLAIM re-checks the idle time
 * per entry, so two readers claiming at once never both get an entry; it adds one delivery, so a
 * claimed entry's `deliveries` is the count XPENDING reported plus one. Entries deleted while pending
 * are dropped from the pending list (Redis 7 XCLAIM does that itself; earlier versions return them
 * without fields and we acknowledge them).
 */
export class RedisStreamSource implements Source {
  private readonly redis: Redis;
  /**
   * XREADGROUP goes through a connection of its own that reads payloads into recycled buffers
   * (plain `redis://` only; other URLs read through ioredis). Everything else uses ioredis.
   */
  private readonly fastReads: boolean;
  private reader: RespConnection | undefined;
  /** Payload buffers, each held by its entry until {@link recycle}. */
  private readonly recycler = BufferRecycler.shared();
  private readonly group: string;
  private readonly claimIntervalMs: number;
  private readonly claimMinIdleMs: number;
  /** Splits whose own pending backlog is not drained yet. */
  private readonly backlog: Set<string>;
  private nextClaimAt = 0;
  /** Rotates which split is claimed from first, so one split's backlog cannot starve the others. */
  private claimRound = 0;
  private closed = false;
  private started: Promise<void> | undefined;

  constructor(private readonly options: RedisStreamSourceOptions) {
    this.group = options.group ?? CONSUMER_GROUP;
    this.claimIntervalMs = options.claimIntervalMs ?? DEFAULT_CLAIM_INTERVAL_MS;
    this.claimMinIdleMs = options.claimMinIdleMs ?? DEFAULT_CLAIM_MIN_IDLE_MS;
    this.redis = createRedis(options.url, { label: `cs-source-${options.consumer}`, lazyConnect: true, maxRetriesPerRequest: null, connectionName: `cs-source-${options.consumer}` });
    this.redis.on('error', () => undefined); // reconnects by itself; read() reports failures
    this.fastReads = RespConnection.supportsUrl(options.url);
    this.backlog = new Set(options.splits);
  }

  start(): Promise<void> {
    return (this.started ??= (async () => {
      await this.redis.connect();
      for (const split of this.options.splits) await this.createGroup(split);
      this.nextClaimAt = this.options.takeOver ? 0 : Date.now() + this.claimIntervalMs;
    })());
  }

  /** Lag and pending entries of each split's consumer group (XINFO GROUPS), for the TaskManager's metrics. */
  groupLoad(): Promise<GroupLoad[]> {
    return readGroupLoad(this.redis, this.options.splits, this.group);
  }

  /** XGROUP CREATE … MKSTREAM; true when it created the group, false when it was there (BUSYGROUP). */
  private async createGroup(split: string): Promise<boolean> {
    try {
      await this.redis.xgroup('CREATE', split, this.group, '0', 'MKSTREAM');
      return true;
    } catch (err) {
      if (err instanceof Error && err.message.includes('BUSYGROUP')) return false;
      throw new ConnectorError(`cannot create consumer group ${this.group} on ${split}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /**
   * A read found a split's stream or group missing: creates every missing group again (a split whose
   * group is there is left alone) and reports each one created. Throws when a group cannot be created
   * (e.g. the key now holds another type), so the read keeps failing and the owner reports it.
   */
  private async recreateGroups(): Promise<void> {
    for (const split of this.options.splits) {
      if (!(await this.createGroup(split))) continue;
      this.backlog.delete(split); // the pending list went with the group
      this.options.onGroupRecreated?.(split);
    }
  }

  async read(maxEntries: number, blockMs: number): Promise<SourceEntry[]> {
    if (this.closed || maxEntries <= 0) return [];
    try {
      if (this.backlog.size === 0 && Date.now() >= this.nextClaimAt) {
        const claimed = await this.claim(maxEntries);
        this.nextClaimAt = Date.now() + this.claimIntervalMs;
        if (claimed.length > 0 || this.closed) return claimed;
      }
      const hadBacklog = this.backlog.size > 0;
      const entries = await this.readGroup(maxEntries, blockMs);
      // The backlog turned out empty: go on to new entries rather than answer nothing.
      if (entries.length === 0 && hadBacklog && this.backlog.size === 0 && !this.closed) return await this.readGroup(maxEntries, blockMs);
      return entries;
    } catch (err) {
      if (this.closed) return [];
      if (isFenced(err)) throw err;
      if (isNoGroup(err)) {
        await this.recreateGroups();
        return [];
      }
      throw new ConnectorError(`reading ${this.options.splits.join(', ')} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** XREADGROUP: this consumer's own backlog (id `0`) while there is one, then new entries (`>`). */
  private async readGroup(maxEntries: number, blockMs: number): Promise<SourceEntry[]> {
    const splits = this.options.splits;
    const pending = splits.filter((s) => this.backlog.has(s));
    const useBacklog = pending.length > 0;
    const keys = useBacklog ? pending : [...splits];
    const ids = keys.map(() => (useBacklog ? '0' : '>'));
    const args: (string | number)[] = ['GROUP', this.group, this.options.consumer, 'COUNT', maxEntries];
    if (!useBacklog) args.push('BLOCK', Math.max(1, Math.round(blockMs)));
    args.push('STREAMS', ...keys, ...ids);
    const reply = this.fastReads
      ? toStreamReply(await (await this.readConnection()).call(['XREADGROUP', ...args]))
      : ((await (this.redis.xreadgroupBuffer as (...a: (string | number)[]) => Promise<unknown>)(...args)) as StreamReply);
    const out: SourceEntry[] = [];
    const seen = new Set<string>();
    for (const [keyBuf, entries] of reply ?? []) {
      const split = keyBuf.toString();
      seen.add(split);
      // A re-read adds a delivery: ask the pending list how many there have been.
      const counts = useBacklog && entries.length > 0 ? await this.deliveryCounts(split, entries[0]![0].toString(), entries[entries.length - 1]![0].toString(), entries.length) : undefined;
      for (const [idBuf, fields] of entries) {
        const entryId = idBuf.toString();
        if (!fields) {
          // Deleted while pending: nothing to process, just acknowledge it.
          await this.redis.xack(split, this.group, entryId);
          continue;
        }
        const entry = toEntry(split, entryId, fields, counts ? counts.get(entryId) : 1);
        this.recycler.hold(entry, entry.data);
        out.push(entry);
      }
      if (useBacklog && entries.length < maxEntries) this.backlog.delete(split);
    }
    if (useBacklog) for (const k of keys) if (!seen.has(k)) this.backlog.delete(k);
    return out;
  }

  /** The read connection, opened again after a failure. */
  private async readConnection(): Promise<RespConnection> {
    if (this.reader?.usable) return this.reader;
    this.reader = await RespConnection.open(this.options.url, { name: `cs-source-read-${this.options.consumer}`, allocate: (n, head) => this.recycler.take(n, n >= this.recycler.minBytes ? (this.options.payloadAlignment?.(head) ?? 0) : 0) });
    if (this.closed) this.reader.close();
    return this.reader;
  }

  /** The entry's result is written: its payload buffer takes the next payload of that size. */
  recycle(ref: EntryRef): void {
    this.recycler.release(ref);
  }

  /** Delivery counts of this consumer's pending entries between two ids (inclusive). */
  private async deliveryCounts(split: string, first: string, last: string, count: number): Promise<Map<string, number>> {
    const rows = (await this.redis.xpending(split, this.group, first, last, count, this.options.consumer)) as PendingRow[];
    return new Map(rows.map((r) => [String(r[0]), Number(r[3])]));
  }

  /**
   * Takes over up to `maxEntries` entries, split after split: every entry of a consumer that `takeOver`
   * names, then those pending longer than claimMinIdleMs. A fenced reader claims nothing.
   */
  private async claim(maxEntries: number): Promise<SourceEntry[]> {
    const { fence } = this.options;
    if (fence) {
      const stored = await this.redis.hget(fencesKey(fence.cluster, fence.jobId), String(fence.subtaskIndex));
      if (isStale(fence, stored)) throw fencedError(fence, stored ?? '?', 'claiming');
    }
    const splits = this.options.splits;
    const first = this.claimRound++ % Math.max(1, splits.length);
    const out: SourceEntry[] = [];
    for (let i = 0; i < splits.length && out.length < maxEntries && !this.closed; i++) {
      const split = splits[(first + i) % splits.length]!;
      if (this.options.takeOver) out.push(...(await this.takeOverFrom(split, maxEntries - out.length)));
      let start = '-';
      for (let page = 0; page < CLAIM_PAGES && out.length < maxEntries; page++) {
        const pageSize = Math.max(CLAIM_PAGE, maxEntries);
        const rows = (await this.redis.xpending(split, this.group, 'IDLE', this.claimMinIdleMs, start, '+', pageSize)) as PendingRow[];
        const wanted = rows.filter(([id, consumer]) => this.claimable(split, String(id), String(consumer))).slice(0, maxEntries - out.length);
        if (wanted.length > 0) out.push(...(await this.claimEntries(split, new Map(wanted.map((r) => [String(r[0]), Number(r[3])])))));
        if (rows.length < pageSize) break;
        start = `(${String(rows[rows.length - 1]![0])}`;
      }
    }
    return out;
  }

  /** Claims (min-idle 0) the pending entries of the consumers `takeOver` names on one split. */
  private async takeOverFrom(split: string, maxEntries: number): Promise<SourceEntry[]> {
    const takeOver = this.options.takeOver!;
    const out: SourceEntry[] = [];
    const consumers = (await this.redis.xinfo('CONSUMERS', split, this.group)) as unknown[][];
    for (const info of consumers) {
      const name = consumerField(info, 'name');
      if (name === undefined || name === this.options.consumer || !takeOver(name)) continue;
      // Never DELCONSUMER: a stale reader may read an entry just then, and deleting drops its pending entries.
      if (Number(consumerField(info, 'pending') ?? 0) === 0 || out.length >= maxEntries) continue;
      const rows = (await this.redis.xpending(split, this.group, '-', '+', Math.max(CLAIM_PAGE, maxEntries - out.length), name)) as PendingRow[];
      const wanted = rows.slice(0, maxEntries - out.length);
      if (wanted.length > 0) out.push(...(await this.claimEntries(split, new Map(wanted.map((r) => [String(r[0]), Number(r[3])])), 0)));
    }
    return out;
  }

  private claimable(split: string, entryId: string, consumer: string): boolean {
    if (consumer !== this.options.consumer) return true;
    return this.options.ownInFlight !== undefined && !this.options.ownInFlight(split, entryId);
  }

  /** XCLAIM of the given ids (with their delivery counts so far); returns those still there. */
  private async claimEntries(split: string, counts: Map<string, number>, minIdleMs = this.claimMinIdleMs): Promise<SourceEntry[]> {
    const reply = (await this.redis.callBuffer('XCLAIM', split, this.group, this.options.consumer, minIdleMs, ...counts.keys())) as [Buffer, Buffer[] | null][] | null;
    const out: SourceEntry[] = [];
    for (const item of reply ?? []) {
      if (!Array.isArray(item)) continue;
      const entryId = item[0].toString();
      const fields = item[1];
      if (!fields) {
        await this.redis.xack(split, this.group, entryId);
        continue;
      }
      out.push(toEntry(split, entryId, fields, (counts.get(entryId) ?? 0) + 1));
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader?.close();
    this.redis.disconnect();
  }
}

/** A field of an XINFO CONSUMERS row (`[name, value, ...]`), as text. */
function consumerField(info: unknown[], field: string): string | undefined {
  for (let i = 0; i + 1 < info.length; i += 2) if (String(info[i]) === field) return String(info[i + 1]);
  return undefined;
}

/** Whether a command failed because the stream or its consumer group does not exist (NOGROUP error reply). */
function isNoGroup(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (/^NOGROUP\b/.test(e.message)) return true;
  }
  return false;
}

/** Checks an XREADGROUP reply read by the RespConnection: `[[key, [[id, fields | nil], ...]], ...]` or nil. */
function toStreamReply(reply: RespValue): StreamReply {
  if (reply === null) return null;
  const bad = (what: string): never => {
    throw new ConnectorError(`unexpected XREADGROUP reply: ${what}`);
  };
  if (!Array.isArray(reply)) return bad('not an array');
  return reply.map((stream) => {
    if (!Array.isArray(stream) || !Buffer.isBuffer(stream[0]) || !Array.isArray(stream[1])) return bad('a stream is not [key, entries]');
    const entries = stream[1].map((entry): [Buffer, Buffer[] | null] => {
      if (!Array.isArray(entry) || !Buffer.isBuffer(entry[0])) return bad('an entry is not [id, fields]');
      const fields = entry[1];
      if (fields === null) return [entry[0], null];
      if (!Array.isArray(fields) || !fields.every((f): f is Buffer => Buffer.isBuffer(f))) return bad('entry fields are not strings');
      return [entry[0], fields];
    });
    return [stream[0], entries];
  });
}

function toEntry(split: string, entryId: string, fields: Buffer[], deliveries: number | undefined): SourceEntry {
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
  return { split, entryId, uri, data, ...(extra ? { extra } : {}), ...(deliveries !== undefined ? { deliveries } : {}) };
}
