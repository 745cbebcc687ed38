import { randomUUID } from 'node:crypto';
import { InputQueue } from '../src/client/input-queue';
import { partitionOf } from '../src/client/partition';
import { resultKey, splitStreamKey } from '../src/cluster-api/keys';
import { BufferRecycler } from '../src/connector/buffer-recycler';
import { ClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import { decodeResult, encodeRequest, type NativeResult } from '../src/protocol/native/native-codec';
import { RespConnection } from '../src/redis/resp-connection';
import { LazyRespConnection } from '../src/redis/lazy-resp-connection';
import type { RespValue } from '../src/redis/resp-parser';
import { isTransientRedisError } from '../src/redis/redis-failures';
import { backoffDelay } from '../src/retry/backoff';
import { nextStreamId } from '../src/redis/stream-ids';
import type { Tensor } from '../src/tensor/tensor';

export interface JobStreamClientOptions {
  /** The Redis the job's stream is on. */
  readonly redis: string;
  /** The job's stream name (the topology's `source.stream`, or its `name`). */
  readonly stream: string;
  /** The topology's `source.partitions`. */
  readonly partitions: number;
  readonly logger: Logger;
}

interface Waiter {
  resolve(result: NativeResult): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
}

/** One request waiting to be written. */
interface Queued {
  readonly stream: string;
  readonly uri: string;
  readonly payload: Buffer;
  /** Epoch ms: the request's deadline; a Redis that is away is waited for until then. */
  readonly deadline: number;
  attempt: number;
}

/** Longest a reply read blocks in Redis, in ms (a read with no waiter left ends after it). */
const READ_BLOCK_MS = 1000;
/** Replies taken per read. */
const READ_COUNT = 1024;

/**
 * The JobManager's side of a job's stream, shared by every HTTP and gRPC inference of that job: each
 * request is one native stream entry (`XADD <split> * uri <uuid> data <Avro request>` naming this
 * client's reply stream), and one read loop (`XREAD BLOCK` on the reply stream) settles every request in
 * flight. Both directions are batched per event-loop turn rather than per request: the XADDs of every
 * request that arrived in one turn leave in one `writev` (they are queued and written at `setImmediate`
 * on a {@link RespConnection}), and each reply read settles all results that arrived meanwhile, then
 * drops their stored copies and the read replies with one UNLINK and one XTRIM.
 *
 * Written for the gateway rather than reusing InputQueue (the TypeScript client) because InputQueue
 * writes each request in the tick it was asked for — one `writev` per HTTP request, the largest single
 * cost in the gateway's CPU profile — and reads replies through ioredis. URLs other than plain
 * `redis://` (TLS, sockets) go through InputQueue.
 */
export class JobStreamClient {
  private readonly replyKey: string;
  private readonly waiters = new Map<string, Waiter>();
  private readonly queued: Queued[] = [];
  private flushScheduled = false;
  private readonly writer: LazyRespConnection;
  private reader: RespConnection | undefined;
  private reading = false;
  private lastReplyId = '0';
  private closed = false;
  private readonly payloads = new BufferRecycler();
  /** For URLs a RespConnection cannot open. */
  private readonly fallback: InputQueue | undefined;

  constructor(private readonly options: JobStreamClientOptions) {
    this.replyKey = `${options.stream}:reply:${randomUUID()}`;
    this.writer = new LazyRespConnection(options.redis, `cs-gateway-${options.stream}`);
    if (!RespConnection.supportsUrl(options.redis)) this.fallback = new InputQueue({ redis: options.redis, stream: options.stream, partitions: options.partitions });
  }

  /** Sends one request and resolves to its result (outputs or error); rejects with CS_ERR_TIMEOUT, CS_ERR_CLOSED or a Redis failure. */
  predict(inputs: ReadonlyMap<string, Tensor>, timeoutMs: number): Promise<NativeResult> {
    if (this.fallback) return this.fallback.predictResult(inputs, { timeoutMs });
    if (this.closed) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'the JobManager is closing'));
    const uri = randomUUID();
    const payload = encodeRequest(inputs, this.replyKey, (n) => this.payloads.take(n));
    const { partitions, stream } = this.options;
    const done = new Promise<NativeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(uri);
        reject(new ClusterServingError('CS_ERR_TIMEOUT', `no result for ${uri} within ${timeoutMs} ms`, { context: { uri } }));
      }, timeoutMs);
      this.waiters.set(uri, { resolve, reject, timer });
    });
    this.queued.push({ stream: splitStreamKey(stream, partitions, partitionOf(uri, partitions)), uri, payload, deadline: Date.now() + timeoutMs, attempt: 0 });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (!this.reading) this.startReading();
    return done;
  }

  /** Writes every queued request: one writev for all of them. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued.splice(0);
    if (batch.length === 0) return;
    const conn = this.writer.current;
    if (conn) {
      for (const q of batch) this.xadd(conn, q);
      return;
    }
    this.writer.get().then(
      (opened) => {
        for (const q of batch) this.xadd(opened, q);
      },
      (err: unknown) => {
        for (const q of batch) this.retryOrFail(q, err);
      },
    );
  }

  private xadd(conn: RespConnection, q: Queued): void {
    conn.call(['XADD', q.stream, '*', 'uri', q.uri, 'data', q.payload]).then(
      // Once XADD is answered Redis has read every byte: the buffer can carry the next request.
      () => this.payloads.give(q.payload),
      (err: unknown) => this.retryOrFail(q, err),
    );
  }

  /**
   * Redis away (refused or dropped connection, `LOADING`): the request is sent again after a backoff,
   * until its deadline; an error reply fails it at once.
   */
  private retryOrFail(q: Queued, err: unknown): void {
    if (this.closed || !isTransientRedisError(err) || Date.now() >= q.deadline) return this.fail(q, err);
    setTimeout(() => {
      if (this.closed) return this.payloads.give(q.payload);
      this.queued.push(q);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }, backoffDelay(q.attempt++, { initialMs: 50, maxMs: 1000 }));
  }

  private fail(q: Queued, err: unknown): void {
    this.payloads.give(q.payload);
    this.settle(q.uri, undefined, err instanceof Error ? err : new Error(String(err)));
  }

  private settle(uri: string, result: NativeResult | undefined, err?: Error): void {
    const w = this.waiters.get(uri);
    if (!w) return;
    this.waiters.delete(uri);
    clearTimeout(w.timer);
    if (result) w.resolve(result);
    else w.reject(err ?? new Error('no result'));
  }

  /** One blocking XREAD loop on the reply stream while any request waits. */
  private startReading(): void {
    this.reading = true;
    void this.readLoop()
      .catch((err: unknown) => {
        this.reader?.close();
        this.reader = undefined;
        if (this.closed) return;
        this.options.logger.warn({ stream: this.options.stream, reason: err instanceof Error ? err.message : String(err) }, 'jobmanager.gateway.reply_read_failed');
        for (const uri of [...this.waiters.keys()]) this.settle(uri, undefined, err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        this.reading = false;
        if (!this.closed && this.waiters.size > 0) this.startReading();
      });
  }

  private async readLoop(): Promise<void> {
    for (let failures = 0; !this.closed && this.waiters.size > 0; ) {
      let reply: RespValue;
      try {
        if (!this.reader?.usable) this.reader = await RespConnection.open(this.options.redis, { name: `cs-gateway-reply-${this.options.stream}` });
        reply = await this.reader.call(['XREAD', 'COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.replyKey, this.lastReplyId]);
        if (failures > 0) this.options.logger.info({ stream: this.options.stream }, 'jobmanager.gateway.redis_available');
        failures = 0;
      } catch (err) {
        // Redis away: read again once it is back (logged once per outage); each request's deadline ends its wait.
        if (this.closed || !isTransientRedisError(err)) throw err;
        this.reader?.close();
        this.reader = undefined;
        if (failures === 0) this.options.logger.warn({ stream: this.options.stream, reason: err instanceof Error ? err.message : String(err) }, 'jobmanager.gateway.redis_unavailable');
        await new Promise((r) => setTimeout(r, backoffDelay(failures++, { initialMs: 50, maxMs: 1000 })));
        continue;
      }
      const uris = this.settleReplies(reply);
      // Each reply carried its result: drop the stored copies and the read replies.
      const writer = this.writer.current;
      if (uris.length > 0 && writer) {
        const keys = uris.map((u) => resultKey(this.options.stream, u));
        writer.call(['UNLINK', ...keys]).catch(() => undefined);
        writer.call(['XTRIM', this.replyKey, 'MINID', nextStreamId(this.lastReplyId) ?? this.lastReplyId]).catch(() => undefined);
      }
    }
  }

  /** Settles the requests of an XREAD reply (`[[key, [[id, [field, value, …]], …]]]` or nil); answers their uris. */
  private settleReplies(reply: RespValue): string[] {
    const uris: string[] = [];
    if (!Array.isArray(reply)) return uris;
    for (const stream of reply) {
      const entries = Array.isArray(stream) ? stream[1] : undefined;
      if (!Array.isArray(entries)) continue;
      for (const entry of entries) {
        if (!Array.isArray(entry)) continue;
        const [id, fields] = entry;
        if (Buffer.isBuffer(id)) this.lastReplyId = id.toString('latin1');
        if (!Array.isArray(fields)) continue;
        for (let i = 0; i + 1 < fields.length; i += 2) {
          const name = fields[i];
          const data = fields[i + 1];
          if (!Buffer.isBuffer(name) || !Buffer.isBuffer(data) || name.length !== 4 || name.toString('latin1') !== 'data') continue;
          let result: NativeResult;
          try {
            result = decodeResult(data);
          } catch (err) {
            this.options.logger.warn({ stream: this.options.stream, reason: err instanceof Error ? err.message : String(err) }, 'jobmanager.gateway.bad_reply');
            continue;
          }
          uris.push(result.uri);
          this.settle(result.uri, result);
        }
      }
    }
    return uris;
  }

  /** Fails every waiting request with CS_ERR_CLOSED, deletes the reply stream and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fallback) return this.fallback.close();
    for (const uri of [...this.waiters.keys()]) this.settle(uri, undefined, new ClusterServingError('CS_ERR_CLOSED', 'the JobManager closed while the request waited'));
    for (const q of this.queued.splice(0)) this.payloads.give(q.payload);
    this.reader?.close();
    const writer = await this.writer.settled();
    if (writer) await writer.call(['UNLINK', this.replyKey]).catch(() => undefined);
    this.writer.close();
  }
}
