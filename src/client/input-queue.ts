import Redis from 'ioredis';
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
import { RespError } from '../redis/resp-parser';
import { nextStreamId } from '../redis/stream-ids';

export interface InputQueueOptions {
  /** Redis URL. @default CS_REDIS_URL or redis://127.0.0.1:6379 */
  readonly redis?: string;
  /** The job's stream name (the topology's `source.stream`, or its `name`). */
  readonly stream: string;
  /** The topology's `source.partitions`. @default 1 */
  readonly partitions?: number;
}

export interface PredictOptions {
  /** A real deadline: the promise rejects with CS_ERR_TIMEOUT when no result arrived by then. @default 10000 */
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

  constructor(private readonly options: InputQueueOptions) {
    this.url = options.redis ?? process.env.CS_REDIS_URL ?? 'redis://127.0.0.1:6379';
    this.redis = new Redis(this.url, { enableAutoPipelining: true, maxRetriesPerRequest: 3 });
    this.replyKey = `${options.stream}:reply:${randomUUID()}`;
    this.fastWrites = RespConnection.supportsUrl(this.url);
    this.writer = new LazyRespConnection(this.url, `cs-client-${options.stream}`);
  }

  /** The stream key a uri's request goes to. */
  streamFor(uri: string): string {
    const partitions = this.options.partitions ?? 1;
    return splitStreamKey(this.options.stream, partitions, partitionOf(uri, partitions));
  }

  /** Writes a request; resolves to its stream entry id once Redis has it. */
  async enqueue(uri: string, inputs: Inputs): Promise<string> {
    return this.send(uri, toNamedTensors(inputs), undefined);
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
    this.send(uri, tensors, this.replyKey).catch((err: unknown) => this.settle(uri, undefined, err instanceof Error ? err : new Error(String(err))));
    return done;
  }

  private send(uri: string, tensors: Map<string, Tensor>, replyTo: string | undefined): Promise<string> {
    if (!this.fastWrites) return this.redis.xadd(this.streamFor(uri), '*', 'uri', uri, 'data', encodeRequest(tensors, replyTo)) as Promise<string>;
    const payload = encodeRequest(tensors, replyTo, (n) => this.payloads.take(n));
    // Once XADD is answered Redis has read every byte: the buffer can carry the next request.
    return this.xadd(this.streamFor(uri), uri, payload).finally(() => this.payloads.give(payload));
  }

  /** XADD on the write connection; a dropped connection (not an error reply) is retried twice on a new one, as ioredis would. */
  private async xadd(stream: string, uri: string, payload: Buffer, attempt = 0): Promise<string> {
    const conn = await this.writer.get();
    try {
      return String(await conn.call(['XADD', stream, '*', 'uri', uri, 'data', payload]));
    } catch (err) {
      if (err instanceof RespError || attempt >= 2 || this.closed) throw err;
      return this.xadd(stream, uri, payload, attempt + 1);
    }
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
    this.reader ??= new Redis(this.url, { maxRetriesPerRequest: null });
    const reader = this.reader;
    void (async () => {
      try {
        while (!this.closed && this.waiters.size > 0) {
          const reply = (await reader.xreadBuffer('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.replyKey, this.lastReplyId)) as [Buffer, [Buffer, Buffer[]][]][] | null;
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
