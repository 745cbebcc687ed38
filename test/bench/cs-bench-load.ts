import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root';

/** What `cs bench --json` prints (see src/cli/commands/bench.ts, loadFiguresJson). */
export interface CsBenchFigures {
  readonly target: string;
  readonly stream: string;
  readonly concurrency: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorCodes: Readonly<Record<string, number>>;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
}

/**
 * Runs `cs bench JOB --json` in its own process (the compiled CLI, bin/cs.js) against a running job and
 * returns its figures: the TypeScript client's closed-loop throughput and latency as a user measures
 * them from the shell. Rejects with the command's stderr when it exits non-zero.
 *
 * @example
 * const f = await csBenchLoad({ jobmanagerUrl: url, redisUrl, job: 'tiny', concurrency: 64, seconds: 10 });
 * console.log(`cs bench ${f.requestsPerSecond.toFixed(0)} req/s, p50 ${f.latencyMs.p50} ms`);
 */
export function csBenchLoad(options: {
  readonly jobmanagerUrl: string;
  readonly redisUrl: string;
  readonly job: string;
  readonly concurrency: number;
  readonly seconds: number;
  /** @default 1 */
  readonly warmupS?: number;
  /** An input file (default: the model's declared inputs, batch 1, random values). */
  readonly input?: string;
}): Promise<CsBenchFigures> {
  const args = [join(packageRoot(), 'bin', 'cs.js'), 'bench', options.job, ...(options.input ? [options.input] : [])];
  args.push('--json', '--concurrency', String(options.concurrency), '--duration', String(options.seconds), '--warmup', String(options.warmupS ?? 1));
  args.push('--jobmanager', options.jobmanagerUrl, '--redis', options.redisUrl);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CS_LOG_LEVEL: 'silent' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`cs bench exited with ${code}: ${stderr.trim().split('\n').pop() ?? ''}`));
      try {
        resolve(JSON.parse(stdout) as CsBenchFigures);
      } catch (err) {
        reject(new Error(`cs bench printed no JSON: ${stdout.slice(0, 200)} (${String(err)})`));
      }
    });
  });
}
