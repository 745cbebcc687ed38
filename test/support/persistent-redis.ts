import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/embedded/free-port';
import { createConnection } from 'node:net';
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
    /** A TLS port besides the plain one (which readiness checks use), when TLS files are given. */
    readonly tlsPort: number | undefined,
  ) {}

  /** The plain-TCP URL. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The TLS URL (`rediss://`), when started with `tls`. */
  get tlsUrl(): string {
    return `rediss://127.0.0.1:${this.tlsPort ?? 0}`;
  }

  static async start(options: { extraArgs?: readonly string[]; tls?: { cert: string; key: string; ca: string; authClients?: boolean } } = {}): Promise<PersistentRedis> {
    const port = await freePort();
    const tlsPort = options.tls ? await freePort() : undefined;
    const tlsArgs = options.tls
      ? ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', options.tls.authClients ? 'yes' : 'no']
      : [];
    const r = new PersistentRedis(port, mkdtempSync(join(tmpdir(), 'cs-aof-redis-')), [...tlsArgs, ...(options.extraArgs ?? [])], tlsPort);
    await r.restart();
    return r;
  }

  /**
   * Starts redis-server (again) on the same ports and folder, with `extraArgs` for this start only, and
   * waits until it answers PING, or with `until: 'loading'` until it answers `LOADING` (still reading its data).
   */
  async restart(options: { extraArgs?: readonly string[]; until?: 'ready' | 'loading' } = {}): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no', '--loglevel', 'warning', ...this.extraArgs, ...(options.extraArgs ?? [])];
    const child = spawn(process.env.CS_REDIS_SERVER_BIN ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    const want = options.until === 'loading' ? /^-LOADING/ : /^(\+PONG|-NOAUTH)/;
    await waitFor(() => answers(this.port, want), { maxWaitMs: 20_000, what: `redis-server on ${this.port} (${this.log.trim()})` });
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

/** Whether a Redis on the port answers PING as `want` says (e.g. PONG, or NOAUTH when it wants a password). */
function answers(port: number, want: RegExp): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(want.test(d.toString())));
  });
}
