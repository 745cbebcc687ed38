import { open, mkdir, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logging/logger';
import { encodeEvent, EVENT_FILE_VERSION, type ScalarValue } from './tf-event';
import { frameRecord } from './tf-record';

/** What a {@link TfEventsWriter} needs. */
export interface TfEventsWriterOptions {
  /** The run directory (created when missing): TensorBoard shows each directory of event files as one run. */
  readonly dir: string;
  readonly logger: Logger;
  /** Buffered records are appended to the file this often, in ms. @default 5000 */
  readonly flushIntervalMs?: number;
  /** Buffered bytes past which a flush starts at once. @default 65536 */
  readonly flushBytes?: number;
  /** Most bytes kept while the file cannot be written; older records are dropped beyond it. @default 4194304 */
  readonly maxBufferedBytes?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** The host name in the file name. @default os.hostname() */
  readonly host?: string;
}

/**
 * Writes one TensorFlow event file (`events.out.tfevents.<seconds>.<hostname>`) in a run directory: its
 * first record is the `file_version: "brain.Event:2"` Event, then an Event per {@link addScalars} call,
 * each holding a Summary of `simple_value`s. Records are framed as TFRecords (src/metrics/tf-record.ts).
 *
 * Writes never block the event loop: records are buffered and appended every `flushIntervalMs` (or once
 * `flushBytes` are waiting), and on {@link flush} and {@link close}. A write error is logged once (then
 * again only after writing has worked meanwhile) and never thrown: records wait in the buffer (up to
 * `maxBufferedBytes`, oldest dropped first) for the next flush. Serving never stops for TensorBoard.
 *
 * @example
 * const w = new TfEventsWriter({ dir: '/tmp/tb/my-job', logger });
 * w.addScalars(0, [{ tag: 'throughput/requests_per_sec', value: 812 }]);
 * await w.close();
 */
export class TfEventsWriter {
  private readonly chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private file: Promise<FileHandle> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private failing = false;
  private closed: Promise<void> | undefined;
  private fileName: string | undefined;
  private readonly flushBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly now: () => number;

  constructor(private readonly options: TfEventsWriterOptions) {
    this.flushBytes = options.flushBytes ?? 64 * 1024;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.push({ wallTime: this.now() / 1000, step: 0, fileVersion: EVENT_FILE_VERSION });
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  /** The event file's path once it is created (at the first flush), else undefined. */
  get path(): string | undefined {
    return this.fileName === undefined ? undefined : join(this.options.dir, this.fileName);
  }

  /**
   * Adds one Event: the scalars at `step`, stamped `wallTimeMs` (ms since the epoch, now by default).
   * Values that are not finite as float32 (NaN, ±Infinity, beyond ±3.4e38) are left out: TensorBoard
   * cannot chart them. Nothing is added after {@link close}.
   */
  addScalars(step: number, scalars: readonly ScalarValue[], wallTimeMs: number = this.now()): void {
    if (this.closed) return;
    const finite = scalars.filter((s) => Number.isFinite(Math.fround(s.value)));
    if (finite.length === 0) return;
    this.push({ wallTime: wallTimeMs / 1000, step, scalars: finite });
    if (this.bufferedBytes >= this.flushBytes) void this.flush();
  }

  /** Appends what is buffered; resolves once it is written (or the write failed and was logged). Never rejects. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writeBuffered());
    return this.writing;
  }

  /** Flushes, then closes the file; idempotent. Never rejects. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      await this.flush();
      const file = this.file;
      if (file) await file.then((f) => f.close()).catch(() => undefined);
    })();
    return this.closed;
  }

  private push(event: Parameters<typeof encodeEvent>[0]): void {
    const record = frameRecord(encodeEvent(event));
    this.chunks.push(record);
    this.bufferedBytes += record.length;
    // Past the limit (the file has not been writable for a while), the oldest scalars go; the version record stays first.
    while (this.bufferedBytes > this.maxBufferedBytes && this.chunks.length > 2) {
      const dropped = this.chunks.splice(this.fileName === undefined ? 1 : 0, 1)[0]!;
      this.bufferedBytes -= dropped.length;
    }
  }

  private async writeBuffered(): Promise<void> {
    if (this.chunks.length === 0) return;
    const chunks = this.chunks.splice(0);
    const bytes = Buffer.concat(chunks);
    try {
      const file = await this.openFile();
      await file.appendFile(bytes);
      this.bufferedBytes -= bytes.length;
      this.failing = false;
    } catch (err) {
      // Put them back in front of anything added meanwhile; the next flush tries again.
      this.chunks.unshift(...chunks);
      if (!this.failing) {
        this.failing = true;
        this.options.logger.warn({ component: 'tensorboard', dir: this.options.dir, err }, 'tensorboard.write.failed');
      }
    }
  }

  /** Creates the file at the first write (a failed open is tried again at the next). */
  private openFile(): Promise<FileHandle> {
    this.file ??= (async () => {
      await mkdir(this.options.dir, { recursive: true });
      const base = `events.out.tfevents.${Math.floor(this.now() / 1000)}.${safeHostName(this.options.host ?? hostname())}`;
      // Two writers in one directory within a second (a job resubmitted into its named run) get distinct files.
      for (let n = 0; ; n += 1) {
        const name = n === 0 ? base : `${base}.${n}`;
        try {
          const handle = await open(join(this.options.dir, name), 'ax');
          this.fileName = name;
          return handle;
        } catch (err) {
          if ((err as { code?: string }).code !== 'EEXIST' || n >= 100) throw err;
        }
      }
    })();
    this.file.catch(() => {
      this.file = undefined;
    });
    return this.file;
  }
}

/** A host name as a file-name part: letters, digits, `-`, `_` and `.` only. */
function safeHostName(host: string): string {
  return host.replace(/[^A-Za-z0-9_.-]/g, '_') || 'localhost';
}
