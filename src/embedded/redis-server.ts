import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { freePort } from './free-port';
import { ClusterServingError } from '../errors';

/** A redis-server child process on a free loopback port, in a temp dir, for one-machine use and tests. */
export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Answers true when something at host:port replies +PONG to PING within `timeoutMs`. */
export function pingRedis(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * Starts Debian's `redis-server` (on PATH, or CS_REDIS_SERVER_BIN) with no persistence and
 * `maxmemory 0`, and resolves once it answers PING.
 */
export async function startRedisServer(options: { port?: number; bin?: string } = {}): Promise<EmbeddedRedis> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'cs-redis-'));
  const bin = options.bin ?? process.env.CS_REDIS_SERVER_BIN ?? 'redis-server';
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory', '0', '--protected-mode', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const outcome = await Promise.race([
      pingRedis('127.0.0.1', port).then((ok) => (ok ? 'up' : 'down')),
      exited.then(() => 'exited'),
      spawnError.then((e) => e),
    ]);
    if (outcome === 'up') break;
    if (outcome instanceof Error) {
      await rm(dir, { recursive: true, force: true });
      throw new ClusterServingError('CS_ERR_CONNECTOR', `cannot start ${bin}: ${outcome.message} (install it: apt-get install redis-server)`, { cause: outcome });
    }
    if (outcome === 'exited' || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new ClusterServingError('CS_ERR_CONNECTOR', `redis-server did not start on port ${port}: ${stderr.trim() || 'no answer to PING'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
          if (child.exitCode === null) child.kill('SIGKILL');
        }
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}
