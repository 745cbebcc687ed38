import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Pool } from 'undici';
import { tinyReference } from '../../src/models/tiny-mlp';
import { uniqueName, waitFor } from '../support/wait-for';
import { useE2eCluster, tinyTopology } from '../e2e/e2e-helpers';
import { assertAlive, assertMemoryBounded, describeCase, forEachBounded, fuzzRun, rssOfAll, sampleCases } from './fuzz-support';

/**
 * Fuzzing the KServe v2 HTTP door (JSON and binary tensors) of a real cluster: a JobManager and a
 * TaskManager process serving the tiny model. Every fuzzed request is answered (no hang) with 200 or a
 * 4xx carrying a KServe error body, never a 5xx (whatever a client sends is a client mistake); input
 * that cannot be a request (not JSON, a body that does not match its declared lengths) gets a 4xx; the
 * good requests between them (every tenth) are answered correctly; no process dies; memory stays bounded.
 */
const ctx = useE2eCluster('fuzz-kserve');

interface HttpCase {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  /** Cannot be a valid request: must get a 4xx. */
  readonly mustFail: boolean;
  /** A good request: must get 200 with these outputs. */
  readonly want?: Float32Array;
}

const CONCURRENCY = 8;

function tinyValues(i: number): Float32Array {
  return Float32Array.from({ length: 16 }, (_, k) => Math.sin(i * 0.29 + k));
}

function goodJson(i: number): HttpCase {
  const values = tinyValues(i);
  const body = { id: `good-${i}`, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...values] }] };
  return { body: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' }, mustFail: false, want: tinyReference(values, 1) };
}

function binaryRequest(header: unknown, tensor: Buffer, declaredHeaderLength?: string): HttpCase {
  const json = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([json, tensor]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': declaredHeaderLength ?? String(json.length) },
    mustFail: false,
  };
}

function goodBinary(i: number): HttpCase {
  const values = tinyValues(i);
  const header = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } }], outputs: [{ name: 'output', parameters: { binary_data: false } }] };
  return { ...binaryRequest(header, Buffer.from(values.buffer)), want: tinyReference(values, 1) };
}

/** Text-level damage: characters replaced, a cut, an appended tail. */
function mutateText(base: string): fc.Arbitrary<string> {
  return fc
    .record({
      edits: fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.constantFrom(...'{}[]",:0-1e.aZ \\'.split(''))), { maxLength: 4 }),
      cut: fc.option(fc.nat({ max: base.length }), { nil: undefined }),
      tail: fc.string({ maxLength: 4 }),
    })
    .map(({ edits, cut, tail }) => {
      const chars = base.split('');
      for (const [at, c] of edits) chars[at] = c;
      return chars.join('').slice(0, cut ?? base.length) + tail;
    });
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const datatype = fc.oneof(fc.constantFrom('FP32', 'FP64', 'FP16', 'INT64', 'INT32', 'INT8', 'UINT8', 'BOOL', 'BYTES', 'BF16'), fc.string({ maxLength: 6 }));
const shape = fc.oneof(fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 4 }), fc.constant([1, 16]), fc.jsonValue());
const tensorData = fc.oneof(
  fc.array(fc.double(), { maxLength: 40 }),
  fc.array(fc.integer(), { minLength: 16, maxLength: 16 }),
  fc.array(fc.array(fc.double(), { maxLength: 16 }), { maxLength: 3 }),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 16 }),
  fc.jsonValue(),
);

function jsonCases(): fc.Arbitrary<HttpCase> {
  const valid = goodJson(0).body.toString();
  const structured = fc
    .record(
      {
        id: fc.jsonValue(),
        inputs: fc.oneof(
          fc.array(fc.record({ name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 6 })), datatype, shape, data: tensorData, parameters: fc.jsonValue() }, { requiredKeys: ['name', 'datatype', 'shape', 'data'] }), { maxLength: 3 }),
          fc.jsonValue(),
        ),
        outputs: fc.oneof(fc.array(fc.record({ name: fc.oneof(fc.constant('output'), fc.string({ maxLength: 6 })), parameters: fc.jsonValue() }), { maxLength: 2 }), fc.jsonValue()),
        parameters: fc.jsonValue(),
      },
      { requiredKeys: ['inputs'] },
    )
    .map((b) => ({ text: JSON.stringify(b), mustFail: false }));
  const text = fc.oneof(
    structured,
    fc.jsonValue().map((v) => ({ text: JSON.stringify(v) ?? 'null', mustFail: false })),
    mutateText(valid).map((t) => ({ text: t, mustFail: !isJson(t) })),
    fc.string({ maxLength: 100 }).map((t) => ({ text: t, mustFail: !isJson(t) })),
  );
  return fc
    .record({ t: text, contentType: fc.constantFrom('application/json', 'text/plain', '', 'application/octet-stream'), gzip: fc.boolean(), claimGzip: fc.boolean() })
    .map(({ t, contentType, gzip, claimGzip }) => {
      const raw = Buffer.from(t.text);
      const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
      if (claimGzip) headers['content-encoding'] = 'gzip';
      // Claimed gzip on a plain body cannot decompress; a gzip body without the claim is not JSON.
      return { body: gzip ? gzipSync(raw) : raw, headers, mustFail: t.mustFail || gzip !== claimGzip };
    });
}

function binaryCases(): fc.Arbitrary<HttpCase> {
  const good = goodBinary(0);
  const headerLength = Number(good.headers['inference-header-content-length']);
  const header = fc.record({
    inputs: fc.oneof(
      fc.array(fc.record({ name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 6 })), datatype, shape, parameters: fc.record({ binary_data_size: fc.oneof(fc.integer({ min: -8, max: 200 }), fc.constant(64), fc.jsonValue()) }) }), { maxLength: 3 }),
      fc.jsonValue(),
    ),
    outputs: fc.oneof(fc.constant([{ name: 'output', parameters: { binary_data: true } }]), fc.jsonValue()),
  });
  return fc.oneof(
    // Any header and tensor bytes, with a true header length.
    fc.record({ header, tensor: fc.uint8Array({ maxLength: 200 }) }).map(({ header: h, tensor }) => binaryRequest(h, Buffer.from(tensor))),
    // The good request with its declared header length wrong.
    fc.oneof(fc.integer({ min: -5, max: 400 }).map(String), fc.constantFrom('', 'abc', '1e3', '0x10', ' 12 ', '99999999999999999999')).map((declared) => {
      const c = binaryRequest(JSON.parse(good.body.subarray(0, headerLength).toString()), good.body.subarray(headerLength), declared);
      const n = Number(declared);
      return { ...c, mustFail: !/^\s*\d+\s*$/.test(declared) || n > good.body.length };
    }),
    // The good request's bytes damaged (header text or tensor bytes), or cut.
    fc
      .record({ flips: fc.array(fc.tuple(fc.nat({ max: good.body.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), cut: fc.option(fc.nat({ max: good.body.length }), { nil: undefined }) })
      .map(({ flips, cut }) => {
        const body = Buffer.from(good.body);
        for (const [at, v] of flips) body[at] = v;
        const cutBody = body.subarray(0, cut ?? body.length);
        return { body: cutBody, headers: good.headers, mustFail: cutBody.length < headerLength };
      }),
  );
}

async function fuzzDoor(door: string, doorIndex: number, cases: fc.Arbitrary<HttpCase>, good: (i: number) => HttpCase): Promise<void> {
  const { cases: n } = fuzzRun();
  const name = uniqueName(`fuzz-${door}`);
  const { jobId } = await ctx.cluster.client.submitJob(tinyTopology(ctx.dir, name, 1, 1));
  await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 30_000, what: 'subtask assigned' });
  const pool = new Pool(ctx.cluster.url, { connections: CONCURRENCY, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const path = `/v2/models/${encodeURIComponent(name)}/infer`;
  const send = async (c: HttpCase): Promise<{ status: number; text: string }> => {
    const res = await pool.request({ method: 'POST', path, body: c.body, headers: c.headers });
    return { status: res.statusCode, text: await res.body.text() };
  };
  try {
    // A first good request proves the job serves before memory is measured.
    await waitFor(async () => (await send(good(-1))).status === 200, { maxWaitMs: 60_000, what: 'a first good answer' });
    const memoryBefore = rssOfAll(ctx.cluster.processes);
    const fuzzed = sampleCases(cases, n, doorIndex);
    // Every tenth request is a good one.
    const all = fuzzed.flatMap((c, i) => (i % 10 === 0 ? [good(i), c] : [c]));
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    await forEachBounded(all, CONCURRENCY, async (c, i) => {
      let status: number;
      let text: string;
      try {
        ({ status, text } = await send(c));
      } catch (err) {
        problems.push(`${describeCase(i, c.body.toString('latin1'))}: no answer: ${String(err)}`);
        return;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const what = (): string => `${describeCase(i, { headers: c.headers, body: c.body.toString('latin1') })}: ${status} ${text.slice(0, 200)}`;
      if (status >= 500) problems.push(`5xx for ${what()}`);
      else if (status >= 400) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const b = body as { error?: unknown; code?: unknown } | undefined;
        if (typeof b?.error !== 'string' || typeof b.code !== 'string') problems.push(`an error without a KServe error body: ${what()}`);
        if (c.want) problems.push(`good request refused: ${what()}`);
      } else if (status === 200) {
        if (c.mustFail) problems.push(`accepted: ${what()}`);
        if (c.want) {
          const out = (JSON.parse(text) as { outputs?: { name: string; data: number[] }[] }).outputs?.find((o) => o.name === 'output');
          if (!out || out.data.length !== c.want.length || out.data.some((v, k) => Math.abs(v - c.want![k]!) > 1e-5)) problems.push(`good request, wrong output: ${what()}`);
        }
      } else problems.push(`unexpected status: ${what()}`);
    });
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
    assertAlive(ctx.cluster.processes);
    // Still serving after the fuzz.
    assert.equal((await send(good(-2))).status, 200);
    assertMemoryBounded(memoryBefore, rssOfAll(ctx.cluster.processes), `KServe ${door} door`);
    console.log(`KServe ${door} door: ${all.length} requests (${all.length - fuzzed.length} good), statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  } finally {
    await pool.close();
  }
}

test('KServe v2 JSON door: fuzzed requests get 200 or a 4xx with an error body, never a 5xx or no answer; good ones between them are answered', async () => {
  await ctx.cluster.startTaskManager('tm-fuzz', 2);
  await fuzzDoor('json', 3, jsonCases(), goodJson);
});

test('KServe v2 binary door: fuzzed requests get 200 or a 4xx with an error body, never a 5xx or no answer; good ones between them are answered', async () => {
  await fuzzDoor('binary', 4, binaryCases(), goodBinary);
});
