import { retry } from '../retry/retry';
import { asRetriable } from './redis-failures';

export interface RetryRedisOptions {
  /** The Redis the calls go to (named in errors, password hidden). */
  readonly url: string;
  /** Epoch ms after which no new attempt starts: the request's own deadline. */
  readonly deadline: number;
  /** Stops retrying early (e.g. the client is closing). */
  readonly stop?: () => boolean;
  /** An error that ends every attempt at once (a TLS certificate failure), when there is one. */
  readonly fatal?: () => Error | undefined;
}

/**
 * Runs one Redis call, again and again while Redis is away (refused or dropped connections, `LOADING`),
 * with the retry module's backoff (50 ms doubling to 1 s, so a restarted Redis is found quickly), until
 * it succeeds, fails with an answer (an error reply), or `deadline` passes; then the last error is thrown.
 */
export function retryRedis<T>(call: () => Promise<T>, options: RetryRedisOptions): Promise<T> {
  return retry(
    async () => {
      try {
        return await call();
      } catch (err) {
        throw options.fatal?.() ?? asRetriable(err, options.url);
      }
    },
    { initialMs: 50, maxMs: 1000, stop: () => Date.now() >= options.deadline || (options.stop?.() ?? false) },
  );
}
