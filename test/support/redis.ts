import { startRedisServer, type EmbeddedRedis } from '../../src/embedded/redis-server';

let started: Promise<EmbeddedRedis> | undefined;

/**
 * The Redis every test of this process uses: CS_TEST_REDIS_URL when set, otherwise a redis-server
 * started once per test file on a free port (stopped when the process exits). Tests isolate themselves
 * by unique stream and job names, never by FLUSHALL.
 */
export async function testRedisUrl(): Promise<string> {
  const configured = process.env.CS_TEST_REDIS_URL;
  if (configured) return configured;
  started ??= startRedisServer().then((r) => {
    r.process.unref();
    process.once('exit', () => r.process.kill('SIGKILL'));
    return r;
  });
  return (await started).url;
}

/** Stops the redis-server this process started, if any (call from an `after` hook). */
export async function stopTestRedis(): Promise<void> {
  if (started) await (await started).stop();
  started = undefined;
}
