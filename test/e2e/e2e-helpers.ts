import { after, before } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { TopologySource } from '../../src/cluster-api/dto';
import { tinyReference } from '../../src/models/tiny-mlp';
import { tensorFrom, toTypedArray, type NamedTensors } from '../../src/tensor/tensor';
import type { LoadGenerator } from '../support/load-generator';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { TestCluster } from '../support/cluster-processes';

/** Writes a topology file into `dir` and returns it as the CLI would submit it. */
export function topologyFile(dir: string, filename: string, text: string): TopologySource {
  const file = join(dir, filename);
  writeFileSync(file, text);
  return { filename: basename(file), source: text, baseDir: dirname(file) };
}

/** The tiny model's input for request number i (deterministic, so results can be checked). */
export function tinyInput(i: number): NamedTensors {
  return new Map([['input', tensorFrom(Float32Array.from({ length: 16 }, (_, k) => Math.sin(i * 0.37 + k)), [1, 16])]]);
}

/** Every reply is a success equal to the tiny model computed directly on its request's input. */
export function checkTinyResults(gen: LoadGenerator): string[] {
  const problems: string[] = [];
  for (const [uri, list] of gen.replies) {
    const r = list[0]!.result;
    if (r.error) {
      problems.push(`${uri}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    const i = Number(/^req-(\d+)-/.exec(uri)?.[1]);
    const want = tinyReference(toTypedArray(tinyInput(i).get('input')!) as Float32Array, 1);
    const got = toTypedArray(r.outputs.get('output')!) as Float32Array;
    if (got.some((v, k) => Math.abs(v - want[k]!) > 1e-5)) problems.push(`${uri}: wrong output`);
  }
  return problems;
}

/** What an e2e test file works with: a Redis, a scratch folder, and a cluster of real `cs` processes. */
export interface E2eContext {
  redis: string;
  dir: string;
  cluster: TestCluster;
}

/**
 * Registers the file's before/after hooks: a Redis (started unless configured), the example models, a
 * scratch folder and a running JobManager process; everything is stopped after the file's tests.
 * The returned object is filled in by the `before` hook.
 */
export function useE2eCluster(prefix: string, options: { heartbeats?: 'fast' | 'default' } = {}): E2eContext {
  const ctx = {} as E2eContext;
  before(async () => {
    ctx.redis = await testRedisUrl();
    await ensureModels(defaultModelsDir(), ['tiny', 'cnn']);
    ctx.dir = mkdtempSync(join(tmpdir(), `cs-${prefix}-`));
    ctx.cluster = await TestCluster.start(ctx.redis, ctx.dir, options);
  });
  after(async () => {
    await ctx.cluster?.stop();
    await stopTestRedis();
  });
  return ctx;
}

/** A YAML topology on the tiny model with the given name, partitions and parallelism. */
export function tinyTopology(dir: string, name: string, partitions: number, parallelism: number): TopologySource {
  return topologyFile(dir, `${name}.yaml`, `name: ${name}\nsource: { type: redis, partitions: ${partitions} }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nparallelism: ${parallelism}\n`);
}
