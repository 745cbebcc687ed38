import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TopologySource } from '../cluster-api/dto';
import { ClusterServingError, TopologyError } from '../errors/cluster-serving-error';
import type { CheckTopologyReply, CheckTopologyRequest } from './check-topology-child';
import type { TopologySpec } from './schema';

/** Options of {@link checkTopologyInChild}. */
export interface CheckTopologyOptions {
  /** Where the child writes the source to load it. */
  readonly cacheDir: string;
  /** Type-check before loading (what a submit does). */
  readonly typecheck: boolean;
  /** Time limit of the whole check, in ms; the child is killed past it. @default 120000 */
  readonly timeoutMs?: number;
  /** The child's V8 heap limit (`--max-old-space-size`), in MB. @default 1024 */
  readonly maxMemoryMb?: number;
}

/** @see CheckTopologyOptions.timeoutMs */
export const DEFAULT_TOPOLOGY_CHECK_TIMEOUT_MS = 120_000;
/** @see CheckTopologyOptions.maxMemoryMb */
export const DEFAULT_TOPOLOGY_CHECK_MEMORY_MB = 1024;

/** Environment variables the child keeps: nothing of the cluster's (no CS_* settings, no secrets). */
const CHILD_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'SYSTEMROOT'];

/**
 * Type-checks and loads a TypeScript topology in a child Node process and answers its validated spec (model
 * path absolute), so that neither the compiler (seconds of CPU) nor the topology's own code ever runs on
 * the caller's event loop. The child runs with a heap limit and the cluster's environment withheld, and
 * is killed (SIGKILL) past the time limit. It keeps the normal CPU priority: niced, it starved on a busy
 * machine (a check that takes 4 s took over 60), while the JobManager's heartbeat work, mostly asleep,
 * gets the CPU when it wakes anyway.
 *
 * @throws {@link TopologyError} with the diagnostics or load errors; also when the check runs out of time
 *   or memory or the child dies (each said plainly, with the limit).
 * @example
 * ```ts
 * const spec = await checkTopologyInChild({ filename: 'tiny-custom.ts', source, baseDir }, { cacheDir, typecheck: true });
 * ```
 */
export function checkTopologyInChild(source: TopologySource, options: CheckTopologyOptions): Promise<TopologySpec> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOPOLOGY_CHECK_TIMEOUT_MS;
  const maxMemoryMb = options.maxMemoryMb ?? DEFAULT_TOPOLOGY_CHECK_MEMORY_MB;
  const what = options.typecheck ? 'type-checking and loading' : 'loading';
  const { script, execArgv } = childScript();
  const env: NodeJS.ProcessEnv = {};
  for (const key of CHILD_ENV_KEYS) if (process.env[key] !== undefined) env[key] = process.env[key];
  return new Promise<TopologySpec>((resolve, reject) => {
    const child = fork(script, [], {
      execArgv: [...execArgv, `--max-old-space-size=${maxMemoryMb}`],
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fn();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new TopologyError([`${source.filename}: ${what} took longer than ${timeoutMs} ms and was stopped`])));
    }, timeoutMs);
    child.once('message', (reply: CheckTopologyReply) => {
      finish(() => {
        if (reply.ok) resolve(reply.spec);
        else if ('problems' in reply) reject(new TopologyError(reply.problems));
        else reject(new TopologyError([`${source.filename}: ${reply.message}`]));
      });
    });
    child.once('error', (err) => {
      finish(() => reject(new ClusterServingError('CS_ERR_INTERNAL', `cannot start the topology checker: ${err.message}`, { cause: err })));
    });
    child.once('exit', (code, signal) => {
      finish(() => {
        const outOfMemory = /heap out of memory|Reached heap limit|Allocation failed/i.test(stderr);
        const reason = outOfMemory
          ? `ran out of memory (limit ${maxMemoryMb} MB)`
          : `stopped before answering (${signal !== null ? `signal ${signal}` : `exit code ${String(code)}`})${lastLine(stderr)}`;
        reject(new TopologyError([`${source.filename}: ${what} ${reason}`]));
      });
    });
    const request: CheckTopologyRequest = { source, cacheDir: options.cacheDir, typecheck: options.typecheck };
    child.send(request, (err) => {
      if (err) finish(() => reject(new ClusterServingError('CS_ERR_INTERNAL', `cannot reach the topology checker: ${err.message}`, { cause: err })));
    });
  });
}

/** The child's entry: the compiled `.js` beside this file, or the `.ts` source through ts-node when running from sources. */
function childScript(): { script: string; execArgv: string[] } {
  const compiled = join(__dirname, 'check-topology-child.js');
  if (existsSync(compiled)) return { script: compiled, execArgv: [] };
  return { script: join(__dirname, 'check-topology-child.ts'), execArgv: ['-r', 'ts-node/register/transpile-only'] };
}

function lastLine(text: string): string {
  const line = text.trim().split('\n').filter((l) => l.trim() !== '').pop();
  return line !== undefined ? `: ${line.trim().slice(0, 300)}` : '';
}
