import { InputQueue } from '../client/input-queue';
import { RespConnection } from '../redis/resp-connection';
import type { ServingTarget } from './serving-target';

/**
 * The client's queue for a target, once its Redis answers: a `redis://` server that cannot be reached
 * is one CS_ERR_CONNECTOR error here, instead of the client's reconnect attempts logging to stderr.
 */
export async function openInputQueue(target: ServingTarget): Promise<InputQueue> {
  if (RespConnection.supportsUrl(target.redisUrl)) (await RespConnection.open(target.redisUrl, { name: 'cs-cli-check', connectTimeoutMs: 5000 })).close();
  return new InputQueue({ redis: target.redisUrl, stream: target.stream, partitions: target.partitions });
}
