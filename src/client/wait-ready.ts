import type { Redis } from 'ioredis';
import { streamReadyKey } from '../cluster-api/keys';
import { ClusterServingError } from '../errors';
import { isErrorCode } from '../errors/codes';
import { isTransientRedisError } from '../redis/redis-failures';

/** What `<stream>:ready` says (see streamReadyKey): ready, failed for good, or not yet (and why). */
export type StreamReadiness = { readonly ready: true } | { readonly ready: false; readonly failure?: ClusterServingError; readonly waiting: string };

/** Reads the fields of `<stream>:ready` as written by the JobManager. */
export function streamReadiness(stream: string, fields: Readonly<Record<string, string>>): StreamReadiness {
  if (fields.ready === '1') return { ready: true };
  const state = fields.state;
  if (state === undefined) return { ready: false, waiting: `no job serves stream ${stream} yet (nothing submitted, or its JobManager has not written ${streamReadyKey(stream)})` };
  const job = fields.job !== undefined ? ` ${fields.job}` : '';
  const reason = fields.reason !== undefined ? `: ${fields.reason}` : '';
  if (state === 'FAILED') {
    const code = fields.code !== undefined && isErrorCode(fields.code) ? fields.code : 'CS_ERR_INTERNAL';
    return { ready: false, waiting: `job${job} FAILED`, failure: new ClusterServingError(code, `job${job} on stream ${stream} failed${reason}`) };
  }
  if (state === 'CANCELED') return { ready: false, waiting: `job${job} CANCELED`, failure: new ClusterServingError('CS_ERR_CLOSED', `job${job} on stream ${stream} was canceled`) };
  return { ready: false, waiting: `job${job} is ${state}${reason}` };
}

/**
 * Waits until the job reading `stream` serves (its JobManager sets `ready` in `<stream>:ready` once the
 * job is RUNNING: every subtask has its model loaded and reads its splits), polling every `intervalMs`.
 * Rejects with the job's failure code when it failed, CS_ERR_CLOSED when it was canceled, and
 * CS_ERR_TIMEOUT, saying what it waits for, after `timeoutMs`. A Redis that is away is waited out.
 */
export async function waitStreamReady(redis: Redis, stream: string, options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly closed?: () => boolean }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let waiting = 'no answer from Redis';
  for (;;) {
    if (options.closed?.()) throw new ClusterServingError('CS_ERR_CLOSED', 'closed while waiting for the job to be ready');
    try {
      const verdict = streamReadiness(stream, await redis.hgetall(streamReadyKey(stream)));
      if (verdict.ready) return;
      if (verdict.failure) throw verdict.failure;
      waiting = verdict.waiting;
    } catch (err) {
      if (err instanceof ClusterServingError || !isTransientRedisError(err)) throw err;
      waiting = `Redis is not reachable: ${err instanceof Error ? err.message : String(err)}`;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new ClusterServingError('CS_ERR_TIMEOUT', `stream ${stream} is not ready within ${options.timeoutMs} ms: ${waiting}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs ?? 100, left)));
  }
}
