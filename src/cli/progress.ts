/** A long step shown to the person at the terminal, see {@link startProgress}. */
export interface Progress {
  /** New detail for the step (e.g. `12,000 of 20,000 requests`). */
  update(detail: string): void;
  /** The step is over: one final line with `summary` (default `done`) and the time it took. */
  done(summary?: string): void;
  /** The step failed: the terminal line is cleared, nothing is written (the command's one error line follows). */
  fail(): void;
}

/** How a step is shown when the stream is not a terminal: `plain` lines, or nothing (`tty-only`). */
export type ProgressMode = 'plain' | 'tty-only';

/** Where progress goes: stderr in the CLI (stdout keeps the command's own output). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** How often a terminal line is redrawn, and how often a new plain line may be written for an update, in ms. */
const REDRAW_MS = 100;
const PLAIN_UPDATE_MS = 5000;

/**
 * Shows a long step (model generation and upload, a demo's runs, a benchmark's first request) on `stream`:
 * on a terminal one line redrawn in place with a spinner, the latest detail and the elapsed time, then
 * replaced by the final line; elsewhere (a pipe, a log file, a test) plain lines only: one when the step
 * starts, an update at most every 5 s, one when it ends; or nothing with `mode: 'tty-only'` (for
 * commands whose stderr must stay one error line in scripts). Hand-written (30 lines) rather than a spinner
 * package: we need stderr, no colours and a plain mode, which is most of what those packages configure away.
 *
 * @example
 * const p = startProgress('model    uploading tiny.onnx');
 * await upload();
 * p.done('uploaded');
 */
export function startProgress(label: string, options: { mode?: ProgressMode; stream?: ProgressStream; now?: () => number } = {}): Progress {
  const { mode = 'plain', stream = process.stderr, now = Date.now } = options;
  const started = now();
  const tty = stream.isTTY === true;
  const quiet = !tty && mode === 'tty-only';
  const seconds = (): string => `${((now() - started) / 1000).toFixed(1)} s`;
  let detail = '';
  let frame = 0;
  let lastPlain = started;
  let finished = false;
  const draw = (): void => void stream.write(`\r\x1b[K${FRAMES[frame++ % FRAMES.length]!} ${label}${detail ? `: ${detail}` : ''} (${seconds()})`);
  const timer = tty ? setInterval(draw, REDRAW_MS) : undefined;
  timer?.unref();
  if (tty) draw();
  else if (!quiet) stream.write(`${label}…\n`);
  return {
    update(text) {
      detail = text;
      if (!tty && !quiet && now() - lastPlain >= PLAIN_UPDATE_MS) {
        lastPlain = now();
        stream.write(`${label}: ${detail} (${seconds()})\n`);
      }
    },
    done(summary = 'done') {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      if (!quiet) stream.write(`${tty ? '\r\x1b[K' : ''}${label}: ${summary} (${seconds()})\n`);
    },
    fail() {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      if (tty) stream.write('\r\x1b[K');
    },
  };
}

/** Runs `step` under a {@link Progress}: done with `summary` of its result, or failed (the error is rethrown). */
export async function withProgress<T>(label: string, step: (progress: Progress) => Promise<T>, options: { summary?: (result: T) => string; mode?: ProgressMode; stream?: ProgressStream } = {}): Promise<T> {
  const progress = startProgress(label, options);
  try {
    const result = await step(progress);
    progress.done(options.summary?.(result));
    return result;
  } catch (err) {
    progress.fail();
    throw err;
  }
}
