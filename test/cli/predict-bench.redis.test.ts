import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { InputQueue } from '../../src/client/input-queue';
import { imageInput } from '../../src/client/tensor-input';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { createLogger } from '../../src/logging/logger';
import { ensureModels } from '../../src/models/generate';
import { outputsToJson } from '../../src/cli/format-outputs';
import type { Tensor } from '../../src/tensor/tensor';
import type { JobManager } from '../../jobmanager/main';
import { startTaskManager, type TaskManager } from '../../taskmanager/main';
import { startTestJobManager } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { npyBytes } from './npy-writer';
import { hasStackTrace, lines, runCs, type CsResult } from './run-cs';

/** A user mistake or an error result: non-zero exit, one line on stderr, nothing on stdout, no stack trace. */
function assertOneLineError(result: CsResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'non-zero exit');
  const errLines = lines(result.stderr);
  assert.equal(errLines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(errLines[0]!, /^error: /);
  assert.match(errLines[0]!, pattern);
  assert.equal(hasStackTrace(result.stderr), false);
  assert.equal(result.stdout, '');
}

describe('cs predict / cs bench against a running job (real Redis, JobManager, TaskManager, ONNX Runtime)', () => {
  let dir: string;
  let redisUrl: string;
  let jm: JobManager;
  let tm: TaskManager;
  let env: Record<string, string>;
  const tiny = uniqueName('predict-tiny');
  const image = uniqueName('predict-image');
  const jobIds: string[] = [];
  const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i) * 2);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-predict-test-'));
    redisUrl = await testRedisUrl();
    const models = await ensureModels(join(dir, 'models'));
    const cacheDir = join(dir, 'cache');
    jm = await startTestJobManager({ redisUrl, cacheDir });
    tm = await startTaskManager({ jobmanagerUrl: jm.url, redisUrl, cacheDir, slots: 2, logger: createLogger('taskmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent') });
    const client = new JobManagerClient(jm.url);
    const tinyYaml = `name: ${tiny}\nsource:\n  type: redis\nbatch:\n  maxDelayMs: 1\nmodel:\n  path: ${models.tiny}\n`;
    // cnn-image.yaml's job, smaller images: decode JPEG/PNG/WebP, resize, normalise, top 5 of 1000 logits.
    const imageYaml = [
      `name: ${image}`,
      'source: { type: redis, protocol: native }',
      'decode: { type: image, width: 224, height: 224, scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }',
      'batch: { maxSize: 4, maxDelayMs: 1 }',
      `model: { path: ${models.cnn}, threads: 1 }`,
      'postprocess: { type: topN, n: 5 }',
      '',
    ].join('\n');
    for (const [name, source] of [
      [tiny, tinyYaml],
      [image, imageYaml],
    ] as const) {
      jobIds.push((await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dir })).jobId);
    }
    await tm.heartbeatNow();
    for (const id of jobIds) {
      await waitFor(async () => (await client.jobStatus(id)).subtasks.every((s) => s.taskManagerId !== null) && (await client.jobStatus(id)).state === 'RUNNING', { maxWaitMs: 30_000, what: `job ${id} running` });
    }
    env = { CS_JOBMANAGER_URL: jm.url, CS_REDIS_URL: redisUrl, CS_CACHE_DIR: join(dir, 'cli-cache') };
  });

  after(async () => {
    const client = new JobManagerClient(jm.url);
    for (const id of jobIds) await client.cancelJob(id).catch(() => undefined);
    await tm?.close();
    await jm?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  /** What the TypeScript client gets for the same inputs, as `cs predict --json` prints it. */
  async function direct(stream: string, inputs: Record<string, Tensor | { data: Float32Array; shape: number[] }>): Promise<unknown> {
    const q = new InputQueue({ redis: redisUrl, stream });
    try {
      return outputsToJson(await q.predict(inputs, { timeoutMs: 30_000 }));
    } finally {
      await q.close();
    }
  }

  async function file(name: string, content: string | Uint8Array): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  }

  it('predicts from a .npy, a nested .json and a flat .json file: the outputs InputQueue.predict returns', async () => {
    const expected = await direct(tiny, { input: { data: x, shape: [1, 16] } });
    const npy = await file('x.npy', npyBytes('<f4', [1, 16], new Uint8Array(x.buffer)));
    const nested = await file('x.json', JSON.stringify([[...x]]));
    const flat = await file('flat.json', JSON.stringify([...x]));
    for (const args of [[tiny, npy], [tiny, '--input', `input=${nested}`], [jobIds[0]!, flat]]) {
      const result = await runCs(['predict', ...args, '--json'], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), expected, args.join(' '));
    }
  });

  it('prints each output with its dtype, shape and values; --stream skips the JobManager', async () => {
    const npy = await file('x2.npy', npyBytes('<f4', [1, 16], new Uint8Array(x.buffer)));
    const viaJob = await runCs(['predict', tiny, npy], { env });
    assert.equal(viaJob.code, 0, viaJob.stderr);
    const out = lines(viaJob.stdout);
    assert.equal(out[0], 'output  float32 [1, 8]');
    assert.match(out[1]!, /^ {2}\[\[-?\d.*\]\]$/);
    const expected = (await direct(tiny, { input: { data: x, shape: [1, 16] } })) as { outputs: { output: { data: number[] } } };
    assert.equal(out[1]!.split(',').length, 8);
    assert.ok(out[1]!.includes(String(Number(expected.outputs.output.data[0]!.toPrecision(6)))), out[1]);

    // Without the JobManager the model's inputs are unknown: the file's shape goes as it is.
    const viaStream = await runCs(['predict', '--stream', tiny, npy, '--redis', redisUrl, '--jobmanager', 'http://127.0.0.1:1'], { env: {} });
    assert.equal(viaStream.code, 0, viaStream.stderr);
    assert.equal(viaStream.stdout, viaJob.stdout);
  });

  it('sends an image to a decode: image job and prints the top 5 as a table', async () => {
    const jpeg = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 200, g: 40, b: 90 } } })
      .composite([{ input: Buffer.from('<svg width="320" height="240"><circle cx="160" cy="120" r="80" fill="#1a7"/></svg>'), top: 0, left: 0 }])
      .jpeg()
      .toBuffer();
    const path = await file('cat.jpg', jpeg);
    const expected = await direct(image, { input: imageInput(await readFile(path)) });
    const json = await runCs(['predict', image, path, '--json'], { env });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), expected);

    const text = await runCs(['predict', image, path], { env });
    assert.equal(text.code, 0, text.stderr);
    const out = lines(text.stdout);
    assert.equal(out[0], 'logits: top 5 (logits_indices int32, logits_scores float32) [1, 5]');
    assert.match(out[1]!, /^ {2}RANK\s+INDEX\s+SCORE$/);
    const best = (expected as { outputs: { logits_indices: { data: number[] } } }).outputs.logits_indices.data[0];
    assert.match(out[2]!, new RegExp(`^ {2}1\\s+${best}\\s+-?\\d`));
    assert.equal(out.length, 7);
  });

  it('refuses in one line: an image for a tensor job, a wrong input name, a wrong shape, an unknown job', async () => {
    const png = await file('dot.png', await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer());
    assertOneLineError(await runCs(['predict', tiny, png], { env }), new RegExp(`dot\\.png: job ${tiny} does not decode images .*\\(CS_ERR_BAD_REQUEST\\)$`));
    const json = await file('y.json', JSON.stringify([...x]));
    assertOneLineError(await runCs(['predict', tiny, '--input', `wrong=${json}`], { env }), /unknown input "wrong": the model of job .* takes input \(float32 \[\?, 16\]\) \(CS_ERR_BAD_REQUEST\)$/);
    assertOneLineError(await runCs(['predict', tiny, json, '--shape', '2,8'], { env }), /shape \[2, 8\], expected float32 \[batch, 16\] \(CS_ERR_SHAPE\)$/);
    assertOneLineError(await runCs(['predict', 'no-such-job', json], { env }), /unknown job "no-such-job".*\(CS_ERR_NOT_FOUND\)$/);
    assertOneLineError(await runCs(['bench', 'no-such-job', '--duration', '1'], { env }), /unknown job "no-such-job".*\(CS_ERR_NOT_FOUND\)$/);
    assertOneLineError(await runCs(['predict', tiny], { env }), /no input: give FILE/);
  });

  it('bench runs closed-loop load and prints requests/s and latency percentiles (text and --json)', async () => {
    const json = await runCs(['bench', tiny, '--duration', '2', '--warmup', '0.5', '--concurrency', '4', '--json'], { env });
    assert.equal(json.code, 0, json.stderr);
    const figures = JSON.parse(json.stdout) as Record<string, unknown> & { latencyMs: Record<string, unknown> };
    assert.deepEqual(Object.keys(figures), ['target', 'stream', 'concurrency', 'durationS', 'warmupS', 'requests', 'errors', 'errorCodes', 'requestsPerSecond', 'latencyMs']);
    assert.deepEqual(Object.keys(figures.latencyMs), ['p50', 'p90', 'p99', 'max', 'mean']);
    assert.equal(figures.target, `job ${tiny}`);
    assert.equal(figures.concurrency, 4);
    assert.equal(figures.errors, 0);
    assert.ok((figures.requests as number) > 0, json.stdout);
    const p = figures.latencyMs as Record<string, number>;
    assert.ok(p.p50! > 0 && p.p50! <= p.p90! && p.p90! <= p.p99! && p.p99! <= p.max!, JSON.stringify(p));
    assert.match(json.stderr, /^bench: /m, 'progress on stderr');

    const npy = await file('b.npy', npyBytes('<f4', [16], new Uint8Array(x.buffer)));
    const text = await runCs(['bench', tiny, npy, '--duration', '1', '--warmup', '0', '--concurrency', '2'], { env });
    assert.equal(text.code, 0, text.stderr);
    const rows = new Map(lines(text.stdout).map((l) => [l.slice(0, 14).trim(), l.slice(14).trim()]));
    assert.equal(rows.get('BENCH'), `job ${tiny} (stream ${tiny})`);
    assert.equal(rows.get('concurrency'), '2');
    assert.equal(rows.get('errors'), '0');
    assert.match(rows.get('requests') ?? '', /^[1-9]\d*$/);
    assert.match(rows.get('throughput') ?? '', /^\d+\.\d req\/s$/);
    for (const p of ['p50', 'p90', 'p99', 'max']) assert.match(rows.get(`latency ${p}`) ?? '', /^\d+\.\d\d ms$/, p);
  });

  it('bench with an input the job refuses stops after one request, in one line', async () => {
    const json = await file('bad.json', JSON.stringify([[1, 2, 3]]));
    assertOneLineError(await runCs(['bench', tiny, json, '--duration', '1'], { env }), /\(CS_ERR_SHAPE\)$/);
  });
});
