import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/embedded/free-port';
import { pingRedis } from '../../src/embedded/redis-server';
import { waitFor } from './wait-for';

/**
 * A redis-server for outage drills: AOF on with `appendfsync always` (an XADD Redis answered is on disk
 * before the answer), a fixed port and folder, so a SIGKILLed server restarts as the same Redis with
 * its data. `extraArgs` add options (e.g. TLS or a password).
 */
export class PersistentRedis {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: readonly string[],
    /** The port `ready()` pings (the plain port; 0 when only TLS listens). */
    private readonly pingPort: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options: { extraArgs?: readonly string[]; port?: number; plainPort?: boolean } = {}): Promise<PersistentRedis> {
    const port = options.port ?? (await freePort());
    const r = new PersistentRedis(port, mkdtempSync(join(tmpdir(), 'cs-aof-redis-')), options.extraArgs ?? [], options.plainPort === false ? 0 : port);
    await r.restart();
    return r;
  }

  /** Starts redis-server (again) on the same port and folder and waits until it answers PING (when it can). */
  async restart(): Promise<void> {
    const plain = this.pingPort === 0 ? ['--port', '0'] : ['--port', String(this.port)];
    const args = [...plain, '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no', '--loglevel', 'warning', ...this.extraArgs];
    const child = spawn(process.env.CS_REDIS_SERVER_BIN ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.unref();
    this.child = child;
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    if (this.pingPort !== 0) await waitFor(() => pingRedis('127.0.0.1', this.pingPort), { maxWaitMs: 20_000, what: `redis-server on ${this.port} (${this.log.trim()})` });
  }

  /** SIGKILL: no shutdown, no final save; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  }

  output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
