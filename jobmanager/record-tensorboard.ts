import type { Logger } from '../src/logging/logger';
import type { TensorBoardSpec } from '../src/topology/schema';
import { TensorBoardRecorder, type TensorBoardSample } from './tensorboard-recorder';

/** What {@link recordTensorBoard} subscribes to: the JobManager's metrics series (jobmanager/metrics/job-metrics-series.ts). */
export interface SampleSeries {
  /** One sample per live job and interval; answers a function that unsubscribes. */
  subscribe(listener: (sample: TensorBoardSample) => void): () => void;
  /** The sampling interval in ms. */
  readonly intervalMs: number;
}

/** A running TensorBoard output: stop it when the JobManager closes. */
export interface TensorBoardOutput {
  readonly recorder: TensorBoardRecorder;
  /** Unsubscribes, then flushes and closes every run. */
  close(): Promise<void>;
}

/**
 * Writes the series' samples as TensorBoard scalars under `dir` (`--tensorboard-dir`): each job's run as
 * its topology's `tensorboard` field says (`specOf` answers the job's topology spec). A job's run is
 * closed once its samples stop (the series samples live jobs only) for ten intervals, at least 10 s.
 *
 * @example
 * const tb = recordTensorBoard({ dir, series, specOf: (id) => control.jobSpec(id), logger });
 * // … on close:
 * await tb.close();
 */
export function recordTensorBoard(options: {
  readonly dir: string;
  readonly series: SampleSeries;
  readonly specOf: (jobId: string) => Promise<{ readonly tensorboard?: TensorBoardSpec | undefined }>;
  readonly logger: Logger;
  /** @default 5000 */
  readonly flushIntervalMs?: number;
}): TensorBoardOutput {
  const recorder = new TensorBoardRecorder({
    dir: options.dir,
    logger: options.logger,
    settingOf: async (jobId) => (await options.specOf(jobId)).tensorboard,
    idleCloseMs: Math.max(10_000, 10 * options.series.intervalMs),
    ...(options.flushIntervalMs !== undefined ? { flushIntervalMs: options.flushIntervalMs } : {}),
  });
  const unsubscribe = options.series.subscribe((sample) => recorder.record(sample));
  options.logger.info({ component: 'tensorboard', dir: options.dir }, 'tensorboard.started');
  return {
    recorder,
    async close() {
      unsubscribe();
      await recorder.close();
    },
  };
}
