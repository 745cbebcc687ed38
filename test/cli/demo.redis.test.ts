import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCs, lines, hasStackTrace } from './run-cs';
import { stopTestRedis, testRedisUrl } from '../support/redis';

after(stopTestRedis);

test('cs demo serves the tiny topology end to end and prints correctness, throughput and latency', async () => {
  const redis = await testRedisUrl();
  const { code, stdout, stderr } = await runCs(['demo', '--requests', '2000', '--window', '64', '--redis', redis]);
  assert.equal(code, 0, stderr);
  assert.ok(!hasStackTrace(stderr), stderr);
  const out = lines(stdout);
  assert.ok(out.some((l) => l.startsWith(`redis    ${redis}`)), stdout);
  assert.ok(out.some((l) => /^correct  output equals the model computed directly/.test(l)), stdout);
  assert.ok(out.some((l) => /^through  2000 requests in [\d.]+ s = [\d,]+ requests\/s/.test(l)), stdout);
  assert.ok(out.some((l) => /^latency  p50 [\d.]+ ms, p99 [\d.]+ ms/.test(l)), stdout);
});

test('cs model generate writes the four example models and names them', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'cs-gen-'));
  try {
    const { code, stdout } = await runCs(['model', 'generate', '--dir', dir]);
    assert.equal(code, 0);
    assert.deepEqual(lines(stdout), [
      `tiny        ${join(dir, 'tiny.onnx')}`,
      `cnn         ${join(dir, 'cnn.onnx')}`,
      `resnet18    ${join(dir, 'resnet18.onnx')}`,
      `mobilenetv2 ${join(dir, 'mobilenetv2.onnx')}`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
