import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import fc from 'fast-check';
import { RecordBatchReader } from 'apache-arrow';
import { deadLetterKey, resultKey } from '../../src/cluster-api/keys';
import { bigdlResultKey } from '../../connectors/redis/result-format';
import { decodeResult, encodeRequest } from '../../src/protocol/native/native-codec';
import { tinyReference } from '../../src/models/tiny-mlp';
import { DTYPES, type Tensor } from '../../src/tensor/tensor';
import { defaultModelsDir } from '../../src/models/generate';
import { join } from 'node:path';
import { uniqueName, waitFor } from '../support/wait-for';
import { LoadGenerator } from '../support/load-generator';
import { checkTinyResults, tinyInput, topologyFile, useE2eCluster, tinyTopology } from '../e2e/e2e-helpers';
import { encodeBigdlTensorRequest } from './bigdl-request-encoder';
import { assertAlive, assertMemoryBounded, describeCase, fuzzRun, rssOfAll, sampleCases } from './fuzz-support';

/**
 * Fuzzing the two stream doors (native and BigDL entries) of a real cluster: a redis-server, a
 * JobManager and a TaskManager process serving the tiny model. Every fuzzed entry carries a uri and gets
 * a result (an error for input that cannot be a request) or a dead letter with a reason, good requests
 * sent between them are all answered correctly, no process dies and memory stays bounded.
 */
const ctx = useE2eCluster('fuzz-stream');

/** One stream entry: its uri and its fields after `uri` (name, value pairs). */
interface FuzzEntry {
  readonly uri: string;
  readonly fields: (string | Buffer)[];
  /** The input cannot be a valid request: the result must be an error. */
  readonly mustFail: boolean;
}

const PIPELINE = 500;

/** Writes the entries in pipelines of PIPELINE XADDs. */
async function sendEntries(redis: Redis, stream: string, entries: readonly FuzzEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += PIPELINE) {
    const pipeline = redis.pipeline();
    for (const e of entries.slice(i, i + PIPELINE)) pipeline.xadd(stream, '*', 'uri', e.uri, ...e.fields);
    const replies = await pipeline.exec();
    for (const [err] of replies ?? []) assert.ifError(err);
  }
}

/** A fuzzed entry's answer: its stored result, or the reason it was parked in the dead-letter stream. */
type Answer = { readonly result: Buffer } | { readonly deadLetter: string };

/** The uris in the dead-letter stream, with their reasons. */
async function deadLetters(redis: Redis, stream: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const entries = (await redis.xrange(deadLetterKey(stream), '-', '+')) as [string, string[]][];
  for (const [, fields] of entries) {
    const get = (name: string): string | undefined => fields[fields.indexOf(name) + 1];
    const uri = fields.includes('uri') ? get('uri') : undefined;
    if (uri !== undefined) out.set(uri, get('reason') ?? '');
  }
  return out;
}

/**
 * Waits until each entry is answered: field `value` of its result key (read in pipelines), or, for an
 * entry the server refuses to process, a dead letter with a reason (an entry it cannot use may be parked
 * rather than answered).
 */
async function readAnswers(redis: Redis, stream: string, keys: readonly string[], uris: readonly string[], what: string): Promise<Answer[]> {
  const answers: (Answer | null)[] = keys.map(() => null);
  await waitFor(
    async () => {
      const missing = answers.flatMap((v, i) => (v === null ? [i] : []));
      for (let i = 0; i < missing.length; i += 1000) {
        const pipeline = redis.pipeline();
        for (const k of missing.slice(i, i + 1000)) pipeline.hgetBuffer(keys[k]!, 'value');
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([, v], j) => {
          if (v) answers[missing[i + j]!] = { result: v as Buffer };
        });
      }
      if (answers.some((a) => a === null)) {
        const parked = await deadLetters(redis, stream);
        answers.forEach((a, i) => {
          const reason = parked.get(uris[i]!);
          if (a === null && reason !== undefined) answers[i] = { deadLetter: reason };
        });
      }
      return answers.every((v) => v !== null);
    },
    { maxWaitMs: Number(process.env.CS_FUZZ_RESULT_WAIT_MS ?? 180_000), intervalMs: 500, what: `an answer for every ${what} entry (${answers.filter((v) => v === null).length} missing)` },
  );
  return answers as Answer[];
}

/** Extra fields that are not `uri` or `data` (those would change what the entry is). */
const extraFields = fc.array(fc.tuple(fc.string({ maxLength: 6 }).filter((n) => n !== 'uri' && n !== 'data'), fc.string({ maxLength: 12 })), { maxLength: 3 });

/** Byte-level damage to a valid payload: flipped bytes, a cut, appended bytes. */
function mutate(base: Buffer): fc.Arbitrary<Buffer> {
  return fc
    .record({
      flips: fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat({ max: base.length }), { nil: undefined }),
      tail: fc.uint8Array({ maxLength: 8 }),
    })
    .map(({ flips, cut, tail }) => {
      const out = Buffer.from(base);
      for (const [at, v] of flips) out[at] = v;
      return Buffer.concat([out.subarray(0, cut ?? out.length), tail]);
    });
}

function nativeCases(replyTo: string): fc.Arbitrary<{ data: Buffer | undefined; mustFail: boolean; extra: [string, string][] }> {
  const valid = encodeRequest(tinyInput(1));
  const tensor: fc.Arbitrary<[string, Tensor]> = fc
    .record({
      name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 8 })),
      dtype: fc.constantFrom(...DTYPES),
      shape: fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 4 }),
      bytes: fc.uint8Array({ maxLength: 200 }),
    })
    .map(({ name, dtype, shape, bytes }) => [name, { dtype, shape, data: bytes }]);
  const data = fc.oneof(
    // Random bytes: not version 1 (or a version-1 body of noise).
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ data: Buffer.from(b), mustFail: b[0] !== 1 })),
    // A valid request with bytes damaged.
    mutate(valid).map((b) => ({ data: b, mustFail: b.length === 0 || b[0] !== 1 })),
    // Well-formed Avro with any tensors: wrong names, dtypes, shapes, sizes (or, rarely, right).
    fc.array(tensor, { maxLength: 3 }).map((list) => {
      try {
        return { data: encodeRequest(new Map(list), replyTo), mustFail: list.length === 0 };
      } catch {
        return { data: Buffer.from([1]), mustFail: true }; // not encodable (e.g. a shape Avro's int cannot hold)
      }
    }),
    // No data field, or an empty one.
    fc.constantFrom(undefined, Buffer.alloc(0)).map((d) => ({ data: d, mustFail: true })),
  );
  return fc.record({ d: data, extra: extraFields }).map(({ d, extra }) => ({ ...d, extra }));
}

test('native stream door: fuzzed entries get an error result each, good requests between them are answered, no process dies', async () => {
  const { cases } = fuzzRun();
  await ctx.cluster.startTaskManager('tm-fuzz', 2);
  const name = uniqueName('fuzz-native');
  const { jobId } = await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, name, 1, 1));
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 30_000, what: 'subtask assigned' });
  const redis = new Redis(ctx.redis);
  const gen = new LoadGenerator(ctx.redis, name, 1, tinyInput);
  try {
    // A first good request proves the job serves before memory is measured.
    await gen.runUntil(50, () => gen.replies.size > 0, { what: 'a first answer' });
    const memoryBefore = rssOfAll(ctx.cluster.processes);
    const replyTo = `${name}:reply:fuzz`;
    const generated = sampleCases(fc.tuple(nativeCases(replyTo), fc.string({ maxLength: 12 })), cases, 1);
    const entries: FuzzEntry[] = generated.map(([c, suffix], i) => ({
      uri: `fz-${i}-${suffix}`,
      fields: [...(c.data === undefined ? [] : ['data', c.data]), ...c.extra.flat()],
      mustFail: c.mustFail,
    }));
    let sent = false;
    const sending = sendEntries(redis, name, entries).finally(() => (sent = true));
    await gen.runUntil(100, () => sent, { what: 'the fuzz entries sent' });
    await sending;
    const answers = await readAnswers(redis, name, entries.map((e) => resultKey(name, e.uri)), entries.map((e) => e.uri), 'native');
    const problems: string[] = [];
    let errors = 0;
    let parked = 0;
    answers.forEach((answer, i) => {
      const e = entries[i]!;
      if ('deadLetter' in answer) {
        parked++;
        if (answer.deadLetter === '') problems.push(`${describeCase(i, e.fields)}: dead letter without a reason`);
        return;
      }
      try {
        const result = decodeResult(answer.result);
        if (result.uri !== e.uri) problems.push(`${describeCase(i, e.uri)}: result for ${result.uri}`);
        if (result.error) errors++;
        else if (e.mustFail) problems.push(`${describeCase(i, e.fields)}: succeeded`);
      } catch (err) {
        problems.push(`${describeCase(i, e.fields)}: unreadable result ${String(err)}`);
      }
    });
    assert.deepEqual(problems.slice(0, 10), []);
    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 120_000, what: `every good request answered (${gen.missing().length} missing)` });
    assert.deepEqual(gen.duplicated(), []);
    assert.deepEqual(checkTinyResults(gen), []);
    assertAlive(ctx.cluster.processes);
    assertMemoryBounded(memoryBefore, rssOfAll(ctx.cluster.processes), 'native door');
    console.log(`native door: ${entries.length} fuzzed entries, ${errors} error results, ${parked} dead letters, ${entries.length - errors - parked} successes; ${gen.sent.size} good requests answered`);
  } finally {
    await gen.close();
    redis.disconnect();
  }
});

/** A good BigDL request for the tiny model, and the outputs it must give. */
function goodBigdl(i: number): { data: string; want: Float32Array } {
  const values = Float32Array.from({ length: 16 }, (_, k) => Math.cos(i * 0.11 + k));
  return { data: encodeBigdlTensorRequest([...values], [1, 16]), want: tinyReference(values, 1) };
}

/** The float32 `data` column of a BigDL result (one record batch per output; the tiny model has one). */
function bigdlOutput(value: string): Float32Array {
  const [batch] = [...RecordBatchReader.from(Buffer.from(value, 'base64'))];
  return Float32Array.from(batch!.getChildAt(0)!.toArray() as Float32Array);
}

function bigdlCases(): fc.Arbitrary<{ data: string | undefined; mustFail: boolean; extra: [string, string][] }> {
  const valid = goodBigdl(0).data;
  const validBytes = Buffer.from(valid, 'base64');
  const data = fc.oneof(
    fc.string({ maxLength: 200 }).map((s) => ({ data: s, mustFail: true })),
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ data: Buffer.from(b).toString('base64'), mustFail: true })),
    // The valid request's Arrow bytes damaged, or its base64 text.
    mutate(validBytes).map((b) => ({ data: b.toString('base64'), mustFail: false })),
    mutate(Buffer.from(valid, 'latin1')).map((b) => ({ data: b.toString('latin1'), mustFail: false })),
    // Well-formed Arrow, values and shape that may disagree.
    fc
      .record({ values: fc.array(fc.float(), { maxLength: 40 }), shape: fc.array(fc.integer({ min: -3, max: 40 }), { maxLength: 4 }) })
      .map(({ values, shape }) => ({ data: encodeBigdlTensorRequest(values, shape), mustFail: values.length % 16 !== 0 })),
    fc.constant({ data: undefined, mustFail: true }),
  );
  return fc.record({ d: data, extra: extraFields }).map(({ d, extra }) => ({ ...d, extra }));
}

test('BigDL stream door: fuzzed entries get NaN each, good requests between them are answered, no process dies', async () => {
  const { cases } = fuzzRun();
  if (!ctx.cluster.processes.some((p) => p.child.spawnargs.includes('tm-fuzz'))) await ctx.cluster.startTaskManager('tm-fuzz', 2);
  const name = uniqueName('fuzz_bigdl');
  const { jobId } = await ctx.cluster.client.submitJob(
    topologyFile(ctx.dir, `${name}.yaml`, `name: ${name}\nsource: { type: redis, protocol: bigdl }\nbatch: { maxSize: 32, maxDelayMs: 1 }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\n`),
  );
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 30_000, what: 'subtask assigned' });
  const redis = new Redis(ctx.redis);
  try {
    const generated = sampleCases(fc.tuple(bigdlCases(), fc.string({ maxLength: 12 })), cases, 2);
    // Good requests between the fuzzed ones, every tenth entry.
    const entries: (FuzzEntry & { want?: Float32Array })[] = [];
    generated.forEach(([c, suffix], i) => {
      if (i % 10 === 0) {
        const good = goodBigdl(i);
        entries.push({ uri: `good-${i}`, fields: ['data', good.data], mustFail: false, want: good.want });
      }
      entries.push({ uri: `fz-${i}-${suffix}`, fields: [...(c.data === undefined ? [] : ['data', c.data]), ...c.extra.flat()], mustFail: c.mustFail });
    });
    // A first good request proves the job serves before memory is measured.
    const first = goodBigdl(-1);
    await redis.xadd(name, '*', 'uri', 'first', 'data', first.data);
    await readAnswers(redis, name, [bigdlResultKey(name, 'first')], ['first'], 'first');
    const memoryBefore = rssOfAll(ctx.cluster.processes);
    await sendEntries(redis, name, entries);
    const answers = await readAnswers(redis, name, entries.map((e) => bigdlResultKey(name, e.uri)), entries.map((e) => e.uri), 'BigDL').catch((err: unknown) => {
      for (const p of ctx.cluster.processes) console.log(p.child.spawnargs.slice(2, 4).join(' '), p.child.exitCode, p.output().slice(-3000));
      throw err;
    });
    const problems: string[] = [];
    let failures = 0;
    let parked = 0;
    answers.forEach((answer, i) => {
      const e = entries[i]!;
      if ('deadLetter' in answer) {
        parked++;
        if (e.want) problems.push(`good request ${e.uri} parked: ${answer.deadLetter}`);
        else if (answer.deadLetter === '') problems.push(`${describeCase(i, e.fields)}: dead letter without a reason`);
        return;
      }
      const value = answer.result.toString('latin1');
      if (value === 'NaN') {
        failures++;
        if (e.want) problems.push(`good request ${e.uri} failed`);
        return;
      }
      if (e.mustFail) problems.push(`${describeCase(i, e.fields)}: succeeded`);
      try {
        const got = bigdlOutput(value);
        if (e.want && (got.length !== e.want.length || got.some((v, k) => Math.abs(v - e.want![k]!) > 1e-5))) problems.push(`good request ${e.uri}: wrong output`);
      } catch (err) {
        problems.push(`${describeCase(i, e.fields)}: unreadable result ${String(err)}`);
      }
    });
    assert.deepEqual(problems.slice(0, 10), []);
    assertAlive(ctx.cluster.processes);
    assertMemoryBounded(memoryBefore, rssOfAll(ctx.cluster.processes), 'BigDL door');
    console.log(`BigDL door: ${entries.length} entries (${entries.filter((e) => e.want).length} good), ${failures} NaN results, ${parked} dead letters`);
  } finally {
    redis.disconnect();
  }
});
