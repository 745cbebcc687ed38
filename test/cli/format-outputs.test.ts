import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { formatOutputs, formatValue, outputsToJson } from '../../src/cli/format-outputs';
import { runClosedLoop, percentile, type RequestOutcome } from '../../src/cli/closed-loop';
import { tensorFrom, type Tensor } from '../../src/tensor/tensor';

const f32 = (values: number[], shape: number[]): Tensor => tensorFrom(Float32Array.from(values), shape);
const i32 = (values: number[], shape: number[]): Tensor => tensorFrom(Int32Array.from(values), shape);

describe('formatOutputs', () => {
  it('prints small tensors nested like numpy, under name, dtype and shape', () => {
    const out = formatOutputs(new Map([['output', f32([0.5, -1.25, 1e-7, 123456789], [2, 2])]]));
    assert.deepEqual(out, ['output  float32 [2, 2]', '  [[0.5, -1.25],', '   [1.0000e-7, 1.2346e+8]]']);
    assert.deepEqual(formatOutputs(new Map([['s', tensorFrom(BigInt64Array.from([2n ** 60n]), [])]])), ['s  int64 []', `  ${2n ** 60n}`]);
  });

  it('summarises a large tensor unless full: min, max with its position, mean, the first values', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i === 812 ? 9 : i / 1000));
    const out = formatOutputs(new Map([['logits', f32(values, [1, 1000])]]));
    assert.equal(out.length, 3);
    assert.equal(out[0], 'logits  float32 [1, 1000]');
    assert.match(out[1]!, /^ {2}min 0 {2}max 9 at \[0, 812\] {2}mean 0\.50/);
    assert.equal(out[2], '  first 8: 0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007 … (1000 values; --full prints all)');
    const full = formatOutputs(new Map([['logits', f32(values, [1, 1000])]]), { full: true });
    assert.equal(full[1]!.split(',').length, 1000);
  });

  it('prints a topN pair as one table and marks argmax outputs', () => {
    const outputs = new Map([
      ['logits_indices', i32([7, 2, 5, 1], [2, 2])],
      ['logits_scores', f32([0.75, 0.125, 0.5, 0.25], [2, 2])],
      ['logits_argmax', i32([7, 5], [2])],
    ]);
    assert.deepEqual(formatOutputs(outputs), [
      'logits: top 2 (logits_indices int32, logits_scores float32) [2, 2]',
      '  ROW  RANK  INDEX  SCORE',
      '  0    1     7      0.75',
      '  0    2     2      0.125',
      '  1    1     5      0.5',
      '  1    2     1      0.25',
      'logits_argmax  int32 [2]  (argmax of logits per row)',
      '  [7, 5]',
    ]);
  });

  it('gives JSON-safe values: bool as true/false, NaN as a string, exact int64 as numbers', () => {
    const json = outputsToJson(
      new Map([
        ['b', { dtype: 'bool', shape: [2], data: Uint8Array.from([0, 1]) } as Tensor],
        ['n', f32([NaN, 1.5], [2])],
        ['i', tensorFrom(BigInt64Array.from([3n, 2n ** 62n]), [2])],
      ]),
    );
    assert.deepEqual(json.outputs.b!.data, [false, true]);
    assert.deepEqual(json.outputs.n!.data, ['NaN', 1.5]);
    assert.deepEqual(json.outputs.i!.data, [3, String(2n ** 62n)]);
    assert.equal(formatValue('bool', 1), 'true');
  });
});

describe('runClosedLoop', () => {
  it('keeps N requests in flight, counts outcomes by code and reports percentiles of the successes', async () => {
    let inFlight = 0;
    let most = 0;
    let n = 0;
    const send = async (): Promise<RequestOutcome> => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return ++n % 5 === 0 ? { code: 'CS_ERR_SHAPE', message: 'wrong shape' } : undefined;
    };
    const progress: string[] = [];
    const f = await runClosedLoop({ concurrency: 3, durationMs: 300, warmupMs: 50, send, onProgress: (p) => progress.push(p.phase), progressIntervalMs: 100 });
    assert.equal(most, 3);
    assert.equal(inFlight, 0, 'waits for the requests in flight');
    assert.ok(f.requests > 0 && f.errors > 0 && f.errors < f.requests, JSON.stringify(f));
    assert.deepEqual(f.errorCodes, { CS_ERR_SHAPE: f.errors });
    assert.deepEqual(f.firstError, { code: 'CS_ERR_SHAPE', message: 'wrong shape' });
    assert.ok(f.latencyMs.p50 <= f.latencyMs.p90 && f.latencyMs.p90 <= f.latencyMs.p99 && f.latencyMs.p99 <= f.latencyMs.max);
    assert.ok(f.throughput > 0);
    assert.ok(progress.includes('measure'), progress.join());
  });

  it('counts a rejected send as an error with its code', async () => {
    const f = await runClosedLoop({ concurrency: 2, durationMs: 50, send: () => Promise.reject(Object.assign(new Error('down'), { code: 'CS_ERR_CONNECTOR' })) });
    assert.ok(f.errors > 0);
    assert.deepEqual(Object.keys(f.errorCodes), ['CS_ERR_CONNECTOR']);
    assert.equal(f.throughput, 0);
    assert.ok(Number.isNaN(f.latencyMs.p50));
  });

  it('takes nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100)], [50, 99, 100]);
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 50)));
  });
});
