/**
 * CPU time per thread of a process, from Linux's /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU,
 * far finer than the 10 ms ticks of /proc/<pid>/stat). The bench samples before and after a run and
 * charges the difference per request: the event loop (the main thread, tid = pid), ONNX Runtime's threads,
 * Node's helper threads, Redis. Off Linux every figure is undefined and the bench prints none.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One sample: per thread id, its name (`comm`) and CPU nanoseconds so far. */
export type ThreadCpuSample = ReadonlyMap<number, { readonly name: string; readonly ns: number }>;

/** Reads every thread of `pid` now; an empty map when /proc is not there or the process is gone. */
export function sampleThreads(pid: number): ThreadCpuSample {
  const out = new Map<number, { name: string; ns: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      out.set(Number(t), { name, ns });
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

/** CPU milliseconds each thread spent between two samples (threads that started in between count from 0). */
export function threadCpuMs(before: ThreadCpuSample, after: ThreadCpuSample): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  for (const [tid, a] of after) out.set(tid, { name: a.name, ms: (a.ns - (before.get(tid)?.ns ?? 0)) / 1e6 });
  return out;
}

/** A process's CPU between two samples, grouped: its main thread, the threads `isModel` names, and the rest. */
export interface ProcessCpu {
  readonly mainMs: number;
  readonly modelMs: number;
  readonly otherMs: number;
  readonly totalMs: number;
}

/**
 * Groups a serving process's threads. ONNX Runtime's intra-op threads and the inference worker threads
 * that call it are the model's; they are told apart from Node's own threads (libuv pool `libuv-worker`,
 * V8's `V8 DefaultWorke`, signal and inspector threads) by the thread ids `modelTids` when given, else by
 * elimination: any thread that is neither the main thread nor one of Node's named helpers.
 */
export function groupProcessCpu(pid: number, before: ThreadCpuSample, after: ThreadCpuSample): ProcessCpu {
  let mainMs = 0;
  let modelMs = 0;
  let otherMs = 0;
  for (const [tid, { name, ms }] of threadCpuMs(before, after)) {
    if (tid === pid) mainMs += ms;
    else if (NODE_HELPER.test(name)) otherMs += ms;
    else modelMs += ms;
  }
  return { mainMs, modelMs, otherMs, totalMs: mainMs + modelMs + otherMs };
}

/** Names Node gives its own helper threads (libuv's pool, V8's platform workers, the signal watcher, …). */
const NODE_HELPER = /^(libuv-worker|V8 |node-|inspector|SignalInspector|DelayedTaskSche)/;

/** CPU milliseconds of this whole process so far (every thread), for a load generator or a bare loop in it. */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
