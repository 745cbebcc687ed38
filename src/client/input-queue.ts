import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { resultKey, splitStreamKey } from '../cluster-api/keys';
import { decodeResult, encodeRequest, type NativeResult } from '../protocol/native/native-codec';
import { ClusterServingError } from '../errors';
import { isErrorCode } from '../errors/codes';
import type { Tensor } from '../tensor/tensor';
import { toNamedTensors, type Inputs } from './tensor-input';
import { partitionOf } from './partition';
import { BufferRecycler } from '../connector/buffer-recycler';
import { LazyRespConnection } from '../redis/lazy-resp-connection';
import { RespConnection } from '../redis/resp-connection';
import { isTransientRedisError } from '../redis/redis-failures';
import { nextStreamId } from '../redis/stream-ids';
import { createRedis, redisFatalError } from '../redis/create-redis';
import { clientRedisCredentials, type RedisCredentials, type RedisSecurity } from '../redis/redis-security';
import { retryRedis } from '../redis/retry-redis';
import { backoffDelay } from '../retry/backoff';
import { waitStreamReady } from './wait-ready';

/**
 * TLS files (for `rediss://` URLs: `caFile` replaces the system CAs) and the password (when the URL has
 * none); each defaults to its environment variable (CS_REDIS_CA, CS_REDIS_CERT, CS_REDIS_KEY,
 * CS_REDIS_PASSWORD, CS_REDIS_PASSWORD_FILE). A certificate failure rejects requests at once with a
 * non-retriable CS_ERR_CONNECTOR that says so.
 */
export interface InputQueueOptions extends RedisSecurity {
  /** Redis URL. @default CS_REDIS_URL or redis://127.0.0.1:6379 */
  readonly redis?: string;
  /** The job's stream name (the topology's `source.stream`, or its `name`). */
  readonly stream: string;
  /** The topology's `source.partitions`. @default 1 */
  readonly partitions?: number;
}

export interface PredictOptions {
  /**
   * A real deadline: the promise rejects with CS_ERR_TIMEOUT when no result arrived by then. Until then a
   * Redis that is away (restarting, loading, refusing connections) is waited for and the request sent
   * again. @default 10000
   */
  readonly timeoutMs?: number;
  /** The request's uri. @default a random UUID */
  readonly uri?: string;
}

interface Waiter {
  resolve(result: NativeResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Sends requests to a job, like BigDL's InputQueue: `enqueue` writes one stream entry (fire and forget,
 * read the result with OutputQueue), `predict` waits for its own result. `predict` does not poll: the
 * server pushes each result onto this client's reply stream, which one blocking XREAD reads for every
 * request in flight.
 *
 * @example
 * const q = new InputQueue({ stream: 'tiny' });
 * const out = await q.predict({ input: { data: new Float32Array(16), shape: [1, 16] } }, { timeoutMs: 2000 });
 * out.get('output'); // Tensor
 */
export class InputQueue {
  private readonly redis: Redis;
  private reader: Redis | undefined;
  private readonly replyKey: string;
  private readonly waiters = new Map<string, Waiter>();
  private lastReplyId = '0';
  private reading = false;
  private closed = false;
  private readonly url: string;
  /**
   * Plain `redis://`: XADDs go through a RespConnection that writes the payload as it is (ioredis copies
   * every command into one new Buffer), encoded into recycled buffers; other URLs use ioredis.
   */
  private readonly fastWrites: boolean;
  private readonly writer: LazyRespConnection;
  private readonly payloads = new BufferRecycler();
  private readonly credentials: RedisCredentials;

  constructor(private readonly options: InputQueueOptions) {
    this.url = options.redis ?? process.env.CS_REDIS_URL ?? 'redis://127.0.0.1:6379';
    this.credentials = clientRedisCredentials(options);
    this.redis = createRedis(this.url, { enableAutoPipelining: true, maxRetriesPerRequest: 1, credentials: this.credentials, label: `cs-client-${options.stream}` });
    this.replyKey = `${options.stream}:reply:${randomUUID()}`;
    this.fastWrites = RespConnection.supportsUrl(this.url);
    this.writer = new LazyRespConnection(this.url, `cs-client-${options.stream}`, this.credentials.password);
  }

  /**
   * Resolves once the job reading this stream can serve: its JobManager marks `<stream>:ready` when the
   * job is RUNNING (every subtask has its model loaded and reads its splits), so a request sent then is
   * answered without waiting for a model to load. Rejects with the job's own failure code when it
   * failed (e.g. CS_ERR_MODEL_LOAD), CS_ERR_CLOSED when it was canceled, CS_ERR_TIMEOUT after `timeoutMs`
   * (default 60000). Only streams on the cluster's own Redis have the key (not a topology's `source.address`).
   */
  waitReady(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    return waitStreamReady(this.redis, this.options.stream, { timeoutMs: options.timeoutMs ?? 60_000, closed: () => this.closed });
  }

  /** The stream key a uri's request goes to. */
  streamFor(uri: string): string {
    const partitions = this.options.partitions ?? 1;
    return splitStreamKey(this.options.stream, partitions, partitionOf(uri, partitions));
  }

  /**
   * Writes a request; resolves to its stream entry id once Redis has it. A Redis that is away is waited
   * for up to `timeoutMs` (default 10000).
   */
  async enqueue(uri: string, inputs: Inputs, options: { readonly timeoutMs?: number } = {}): Promise<string> {
    if (this.closed) throw new ClusterServingError('CS_ERR_CLOSED', 'InputQueue is closed');
    return this.send(uri, toNamedTensors(inputs), undefined, Date.now() + (options.timeoutMs ?? 10_000));
  }

  /** Sends a request and resolves to its outputs; rejects with the server's error code, or CS_ERR_TIMEOUT. */
  async predict(inputs: Inputs, options: PredictOptions = {}): Promise<Map<string, Tensor>> {
    const result = await this.predictResult(inputs, options);
    if (result.error) throw new ClusterServingError(isErrorCode(result.error.code) ? result.error.code : 'CS_ERR_INTERNAL', result.error.message, { context: { uri: result.uri } });
    return result.outputs;
  }

  /** Like predict, but resolves to the whole result (outputs or error) instead of throwing on an error result. */
  predictResult(inputs: Inputs, options: PredictOptions = {}): Promise<NativeResult> {
    if (this.closed) return Promise.reject(new ClusterServingError('CS_ERR_CLOSED', 'InputQueue is closed'));
    const uri = options.uri ?? randomUUID();
    const timeoutMs = options.timeoutMs ?? 10_000;
    let tensors: Map<string, Tensor>;
    try {
      tensors = toNamedTensors(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    const done = new Promise<NativeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(uri);
        reject(new ClusterServingError('CS_ERR_TIMEOUT', `no result for ${uri} within ${timeoutMs} ms`, { context: { uri } }));
      }, timeoutMs);
      this.waiters.set(uri, { resolve, reject, timer });
    });
    this.startReading();
    this.send(uri, tensors, this.replyKey, Date.now() + timeoutMs).catch((err: unknown) => this.settle(uri, undefined, err instanceof Error ? err : new Error(String(err))));
    return done;
  }

  /**
   * XADD, sent again while Redis is away (a refused or dropped connection, `LOADING`) until `deadline`.
   * A request whose connection dropped after Redis took it may so be written twice: the server answers
   * both, the waiter takes the first.
   */
  private send(uri: string, tensors: Map<string, Tensor>, replyTo: string | undefined, deadline: number): Promise<string> {
    const stream = this.streamFor(uri);
    const retrying = { url: this.url, deadline, stop: () => this.closed, fatal: () => redisFatalError(this.redis) };
    if (!this.fastWrites) {
      const data = encodeRequest(tensors, replyTo);
      return retryRedis(async () => String(await this.redis.xadd(stream, '*', 'uri', uri, 'data', data)), retrying);
    }
    const payload = encodeRequest(tensors, replyTo, (n) => this.payloads.take(n));
    // Once XADD is answered Redis has read every byte: the buffer can carry the next request.
    return retryRedis(async () => String(await (await this.writer.get()).call(['XADD', stream, '*', 'uri', uri, 'data', payload])), retrying).finally(() => this.payloads.give(payload));
  }

  private settle(uri: string, result: NativeResult | undefined, err?: Error): void {
    const w = this.waiters.get(uri);
    if (!w) return;
    this.waiters.delete(uri);
    clearTimeout(w.timer);
    if (result) w.resolve(result);
    else w.reject(err ?? new Error('no result'));
  }

  /** One blocking XREAD loop on the reply stream while any predict waits. */
  private startReading(): void {
    if (this.reading) return;
    this.reading = true;
    this.reader ??= createRedis(this.url, { maxRetriesPerRequest: null, credentials: this.credentials, label: `cs-client-reply-${this.options.stream}` });
    const reader = this.reader;
    void (async () => {
      try {
        for (let failures = 0; !this.closed && this.waiters.size > 0; ) {
          let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
          try {
            reply = (await reader.xreadBuffer('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.replyKey, this.lastReplyId)) as typeof reply;
            failures = 0;
          } catch (err) {
            // Redis away: read again once it is back; each waiter's own deadline ends its wait.
            const fatal = redisFatalError(reader);
            if (fatal) throw fatal;
            if (!isTransientRedisError(err)) throw err;
            await new Promise((r) => setTimeout(r, backoffDelay(failures++, { initialMs: 50, maxMs: 1000 })));
            continue;
          }
          const consumed: string[] = [];
          for (const [, entries] of reply ?? []) {
            for (const [id, fields] of entries) {
              this.lastReplyId = id.toString();
              let data: Buffer | undefined;
              for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === 'data') data = fields[i + 1];
              if (!data) continue;
              const result = decodeResult(data);
              consumed.push(result.uri);
              this.settle(result.uri, result);
            }
          }
          // The reply carried the result: drop the stored copy and the read entries.
          if (consumed.length > 0) {
            void this.redis.unlink(...consumed.map((u) => resultKey(this.options.stream, u))).catch(() => undefined);
            void this.redis.xtrim(this.replyKey, 'MINID', nextStreamId(this.lastReplyId) ?? this.lastReplyId).catch(() => undefined);
          }
        }
      } catch (err) {
        if (!this.closed) for (const uri of [...this.waiters.keys()]) this.settle(uri, undefined, err instanceof Error ? err : new Error(String(err)));
      } finally {
        this.reading = false;
        if (!this.closed && this.waiters.size > 0) this.startReading();
      }
    })();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const uri of [...this.waiters.keys()]) this.settle(uri, undefined, new ClusterServingError('CS_ERR_CLOSED', 'InputQueue closed while waiting'));
    this.reader?.disconnect();
    this.writer.close();
    await this.redis.unlink(this.replyKey).catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
