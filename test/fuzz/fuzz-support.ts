import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { CsProcess } from '../support/cluster-processes';

/**
 * What every fuzz test of a door shares: the run's seed and case count, the server processes' memory,
 * and the check that they are all still alive.
 *
 * A run takes its seed from CS_FUZZ_SEED, else picks one and prints it: a failure is replayed with
 * `CS_FUZZ_SEED=<seed> node --test dist/test/fuzz/<file>.test.js`. CS_FUZZ_CASES sets the cases per door
 * (default 10,000).
 */
export interface FuzzRun {
  readonly seed: number;
  readonly cases: number;
}

let run: FuzzRun | undefined;

export function fuzzRun(): FuzzRun {
  if (!run) {
    const fromEnv = process.env.CS_FUZZ_SEED;
    const seed = fromEnv !== undefined && /^-?\d+$/.test(fromEnv) ? Number(fromEnv) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
    const cases = Number(process.env.CS_FUZZ_CASES ?? 10_000);
    run = { seed, cases: Number.isInteger(cases) && cases > 0 ? cases : 10_000 };
    console.log(`fuzz seed ${seed}, ${run.cases} cases per door (replay: CS_FUZZ_SEED=${seed})`);
  }
  return run;
}

/** `n` values of `arbitrary`, reproducible from the run's seed and the door's own offset. */
export function sampleCases<T>(arbitrary: fc.Arbitrary<T>, n: number, door: number): T[] {
  return fc.sample(arbitrary, { seed: fuzzRun().seed + door * 7919, numRuns: n });
}

/** Resident memory of a process (bytes), read from /proc. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  assert.ok(kb, `no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

export function rssOfAll(processes: readonly CsProcess[]): Map<number, number> {
  return new Map(processes.filter(isAlive).map((p) => [p.child.pid!, rssOf(p.child.pid!)]));
}

function isAlive(p: CsProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** Every process still runs: none crashed on what it was fed. */
export function assertAlive(processes: readonly CsProcess[]): void {
  for (const p of processes) assert.ok(isAlive(p), `process ${p.child.spawnargs.slice(2).join(' ')} died (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().slice(-4000)}`);
}

/**
 * Memory stays bounded: each process's RSS after the fuzz is at most twice what it was before plus
 * 256 MiB (generous on purpose: a leak per case over 10,000 cases shows far above it; heap growth and
 * allocator caching do not).
 */
export function assertMemoryBounded(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, door: string): void {
  for (const [pid, was] of before) {
    const now = after.get(pid);
    assert.ok(now !== undefined, `process ${pid} is gone`);
    const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
    console.log(`${door}: process ${pid} RSS ${mib(was)} MiB → ${mib(now)} MiB`);
    assert.ok(now <= 2 * was + 256 * 2 ** 20, `${door}: process ${pid} grew from ${mib(was)} MiB to ${mib(now)} MiB`);
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once, in order of start. */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** A case that broke a property: its index and a short rendering of the input, for the failure message. */
export function describeCase(index: number, input: unknown): string {
  const text = Buffer.isBuffer(input) || input instanceof Uint8Array ? Buffer.from(input).toString('hex') : JSON.stringify(input, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  return `case ${index} (seed ${fuzzRun().seed}): ${(text ?? String(input)).slice(0, 300)}`;
}
