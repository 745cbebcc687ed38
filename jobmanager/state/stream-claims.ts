import type { Redis } from 'ioredis';
import { STREAM_CLAIMS_KEY, jobManagerAliveKey } from '../../src/cluster-api/keys';

/** A claim by another cluster that is still held: its JobManager is alive. */
export interface ForeignClaim {
  readonly stream: string;
  readonly cluster: string;
}

/**
 * Which cluster reads which data stream on this Redis. Data streams are named by the topology (clients
 * name them), not by the cluster, so two clusters' jobs could name the same stream and steal each other's
 * requests through one consumer group. A submit claims its stream in the shared hash `cs:stream-claims`
 * (field = stream name, value = cluster); a stream claimed by another cluster whose JobManager is alive
 * (its `jobmanager-alive` key, refreshed every heartbeat interval with a TTL) is refused. A claim whose
 * cluster's JobManager has been gone longer than the TTL has lapsed and is taken over; the owner releases
 * it when its last active job on the stream ends.
 *
 * Only streams on the cluster's own Redis are claimed: a topology whose source names another `address`
 * is not checked.
 */
export class StreamClaims {
  constructor(
    private readonly redis: Redis,
    private readonly cluster: string,
    /** TTL of the liveness key, in ms. */
    private readonly aliveTtlMs: number,
  ) {}

  /** Marks this cluster's JobManager alive for the next `aliveTtlMs`. */
  async heartbeat(): Promise<void> {
    await this.redis.set(jobManagerAliveKey(this.cluster), String(Date.now()), 'PX', this.aliveTtlMs);
  }

  /** Claims the streams for this cluster; answers the first one another live cluster holds (nothing is claimed then). */
  async claim(streams: readonly string[]): Promise<ForeignClaim | undefined> {
    const taken: { stream: string; owner: string }[] = [];
    for (const stream of streams) {
      if ((await this.redis.hsetnx(STREAM_CLAIMS_KEY, stream, this.cluster)) === 1) continue;
      const owner = await this.redis.hget(STREAM_CLAIMS_KEY, stream);
      if (owner === null || owner === this.cluster) continue;
      if ((await this.redis.exists(jobManagerAliveKey(owner))) === 1) return { stream, cluster: owner };
      taken.push({ stream, owner });
    }
    // Lapsed claims: take them over only if nobody else did meanwhile (compare and set on one key).
    for (const { stream, owner } of taken) {
      const swapped = await this.redis.eval(SWAP_OWNER, 1, STREAM_CLAIMS_KEY, stream, owner, this.cluster);
      if (Number(swapped) !== 1) {
        const now = await this.redis.hget(STREAM_CLAIMS_KEY, stream);
        if (now !== null && now !== this.cluster) return { stream, cluster: now };
      }
    }
    return undefined;
  }

  /** Releases the streams this cluster holds (left alone when another cluster holds them). */
  async release(streams: readonly string[]): Promise<void> {
    for (const stream of streams) await this.redis.eval(SWAP_OWNER, 1, STREAM_CLAIMS_KEY, stream, this.cluster, '');
  }

  /** The cluster that holds the stream, or undefined. */
  async owner(stream: string): Promise<string | undefined> {
    return (await this.redis.hget(STREAM_CLAIMS_KEY, stream)) ?? undefined;
  }
}

/** HSET field to ARGV[3] (HDEL when empty) if it holds ARGV[2]; 1 when done. */
const SWAP_OWNER = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`;
