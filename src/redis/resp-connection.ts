import { connect, type Socket } from 'node:net';
import { ConnectorError } from '../errors';
import { RespError, RespParser, type BulkAllocator, type RespValue } from './resp-parser';
import { isTransientRedisError } from './redis-failures';
import { processRedisCredentials } from './redis-security';

/**
 * The socket reads into one buffer of this size, reused for every read, except the rest of a large bulk
 * string, which it reads straight into that string's own buffer (RespParser.directTarget). Small, so that
 * little of a large payload arrives here and has to be copied out.
 */
const READ_BUFFER_BYTES = 16 * 1024;

interface Pending {
  readonly resolve: (reply: RespValue) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One plain-TCP Redis connection that moves large values without copies or allocations: the socket
 * reads into a single reused buffer (`onread`) and a RespParser copies bulk strings into buffers from
 * `allocate` (e.g. a BufferRecycler); commands are written with large byte arguments as they are (one
 * `writev` per tick for every command of that tick, as ioredis's auto-pipelining batches them, but
 * without ioredis's copy of the whole command into one new Buffer: 0.6 vs 0.2 ms per 600 KB XADD,
 * measured). Commands are pipelined in order; there is no reconnect: once the socket fails, every call
 * rejects and the owner opens a new connection.
 *
 * Only `redis://` URLs (host, port, optional user and password, database number); `rediss://` and
 * sockets go through ioredis (see {@link supportsUrl}).
 */
export class RespConnection {
  private readonly pending: Pending[] = [];
  private failure: Error | undefined;
  private corked = false;

  private constructor(private readonly socket: Socket) {}

  /** Whether a RespConnection can open `url` (plain `redis://`). */
  static supportsUrl(url: string): boolean {
    try {
      return new URL(url).protocol === 'redis:';
    } catch {
      return false;
    }
  }

  /**
   * Connects, authenticates, selects the database and names the connection. The password is the URL's,
   * else `options.password`, else the process's ({@link processRedisCredentials}). A failure to connect,
   * or Redis still loading its data, is a retriable ConnectorError; a refused password is not.
   */
  static async open(
    url: string,
    options: { readonly name?: string; readonly allocate?: BulkAllocator; readonly connectTimeoutMs?: number; readonly password?: string } = {},
  ): Promise<RespConnection> {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    const port = Number(u.port || 6379);
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let self: RespConnection | undefined;
    const parser = new RespParser((reply) => self?.settle(reply), options.allocate);
    const socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        // Asked before every read: a large payload's remaining bytes go from the kernel into place.
        buffer: () => parser.directTarget() ?? readBuffer,
        callback: (bytes: number, buf: Uint8Array): boolean => {
          try {
            if (buf === readBuffer) parser.feed(buf.subarray(0, bytes));
            else parser.filledDirectly(bytes);
          } catch (err) {
            self?.fail(err instanceof Error ? err : new Error(String(err)));
          }
          return true;
        },
      },
    });
    self = new RespConnection(socket);
    const conn = self;
    socket.on('error', (err) => conn.fail(err));
    socket.on('close', () => conn.fail(new Error('connection closed')));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connecting to ${host}:${port} timed out`)), options.connectTimeoutMs ?? 10_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    }).catch((err: unknown) => {
      socket.destroy();
      throw new ConnectorError(`cannot connect to Redis at ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    try {
      const password = decodeURIComponent(u.password) || (options.password ?? processRedisCredentials().password ?? '');
      const user = decodeURIComponent(u.username);
      if (password) await conn.call(user ? ['AUTH', user, password] : ['AUTH', password]);
      const db = Number(u.pathname.slice(1) || 0);
      if (db) await conn.call(['SELECT', db]);
      if (options.name) await conn.call(['CLIENT', 'SETNAME', options.name]);
    } catch (err) {
      conn.close();
      const message = `cannot set up the Redis connection: ${err instanceof Error ? err.message : String(err)}`;
      if (isTransientRedisError(err)) throw new ConnectorError(message, { cause: err });
      throw new ConnectorError(message, { cause: err, retriable: false });
    }
    return conn;
  }

  /** Whether calls can still succeed. */
  get usable(): boolean {
    return this.failure === undefined;
  }

  /**
   * Sends one command; resolves with its reply, rejects with a RespError reply or a connection failure.
   * Byte arguments are written as they are: they must not change until the call settles.
   */
  call(args: readonly (string | number | Uint8Array)[]): Promise<RespValue> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<RespValue>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      if (!this.corked) {
        // Everything written until the next tick leaves in one writev.
        this.corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.corked = false;
          this.socket.uncork();
        });
      }
      let text = `*${args.length}\r\n`;
      for (const a of args) {
        if (typeof a !== 'object') {
          const s = String(a);
          text += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
        } else {
          this.socket.write(`${text}$${a.byteLength}\r\n`);
          this.socket.write(a);
          text = '\r\n';
        }
      }
      this.socket.write(text);
    });
  }

  /** Closes the socket; pending calls reject. */
  close(): void {
    this.fail(new ConnectorError('connection closed by its owner'));
    this.socket.destroy();
  }

  private settle(reply: RespValue): void {
    const p = this.pending.shift();
    if (!p) return this.fail(new ConnectorError('Redis sent a reply nobody asked for'));
    if (reply instanceof RespError) p.reject(reply);
    else p.resolve(reply);
  }

  private fail(err: Error): void {
    if (!this.failure) {
      this.failure = err instanceof ConnectorError ? err : new ConnectorError(`Redis connection failed: ${err.message}`, { cause: err });
      this.socket.destroy();
    }
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }
}
