import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { packageRoot } from '../../src/package-root';

/** One scalar as TensorBoard's reader returns it: step, value (float32), wall time in seconds. */
export type ReadScalar = readonly [step: number, value: number, wallTime: number];

/** What TensorBoard's EventMultiplexer found in a log directory, per run (sub-directory). */
export interface ReadLogDir {
  readonly runs: Readonly<Record<string, { readonly file_version: number | null; readonly scalars: Readonly<Record<string, readonly ReadScalar[]>> }>>;
}

let cached: { python: string } | { missing: string } | undefined;

/**
 * The Python of the venv with PyPI's `tensorboard`: CS_TEST_TB_PYTHON, else the one
 * test/python/ensure-tb-venv.sh answers (it creates ~/.cache/cluster-serving/venv-tb the first time, about
 * 20 s, and reuses it after). Undefined, with the reason, when it cannot be had (no PyPI).
 */
function tensorBoardPython(): { python: string } | { missing: string } {
  if (cached) return cached;
  const given = process.env.CS_TEST_TB_PYTHON;
  if (given !== undefined && given !== '') return (cached = { python: given });
  const r = spawnSync('bash', [join(packageRoot(), 'test', 'python', 'ensure-tb-venv.sh')], { encoding: 'utf8', timeout: 600_000 });
  const python = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && python !== '') return (cached = { python });
  return (cached = { missing: `no tensorboard venv (bash test/python/ensure-tb-venv.sh failed: ${(r.stderr ?? '').trim().split('\n').pop() ?? String(r.error)})` });
}

/**
 * A reader of TensorBoard log directories through TensorBoard's own Python reader
 * (test/python/tensorboard/read_scalars.py). When the venv cannot be had the test is skipped, or failed
 * with CS_TEST_STRICT=1 (as CI runs it).
 */
export function tensorBoardReader(t: TestContext): ((logDir: string) => ReadLogDir) | undefined {
  const found = tensorBoardPython();
  if ('missing' in found) {
    if (process.env.CS_TEST_STRICT === '1') assert.fail(`missing prerequisite (CS_TEST_STRICT=1): ${found.missing}`);
    t.skip(found.missing);
    return undefined;
  }
  return (logDir) => {
    const script = join(packageRoot(), 'test', 'python', 'tensorboard', 'read_scalars.py');
    const r = spawnSync(found.python, [script, logDir], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, `${script} failed:\n${r.stderr}${r.error ? String(r.error) : ''}`);
    return JSON.parse(r.stdout) as ReadLogDir;
  };
}
