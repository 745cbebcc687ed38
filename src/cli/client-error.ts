import { ClusterServingError, ConnectorError } from '../errors';

/**
 * A client failure as the CLI reports it: the product's errors as they are; anything else (a refused or
 * dropped Redis connection) as one CS_ERR_CONNECTOR line naming the Redis.
 */
export function asClientError(err: unknown, redisUrl: string): ClusterServingError {
  if (err instanceof ClusterServingError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectorError(`Redis at ${redisUrl}: ${message.split('\n')[0]}`, { cause: err });
}
