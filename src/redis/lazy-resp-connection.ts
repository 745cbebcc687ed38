import { RespConnection } from './resp-connection';

/**
 * A RespConnection opened on first use and opened again after it failed (a RespConnection never
 * reconnects by itself), until `close()`. Concurrent callers share one opening.
 */
export class LazyRespConnection {
  private conn: RespConnection | undefined;
  private opening: Promise<RespConnection> | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly name: string,
    /** The password when the URL has none. @default the process's */
    private readonly password?: string,
  ) {}

  /** The connection, when one is open and usable right now. */
  get current(): RespConnection | undefined {
    return this.conn?.usable ? this.conn : undefined;
  }

  /** The open connection, opening it first when there is none (or it failed). */
  get(): Promise<RespConnection> {
    const open = this.current;
    if (open) return Promise.resolve(open);
    this.opening ??= RespConnection.open(this.url, { name: this.name, ...(this.password !== undefined ? { password: this.password } : {}) }).then(
      (conn) => {
        this.conn = conn;
        this.opening = undefined;
        if (this.closed) conn.close();
        return conn;
      },
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** The usable connection, or the one being opened once it is; undefined when there is none. */
  async settled(): Promise<RespConnection | undefined> {
    const conn = this.current ?? (await this.opening?.catch(() => undefined));
    return conn?.usable ? conn : undefined;
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
  }
}
