import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { Pool, type Dispatcher } from 'undici';
import { stringify } from 'yaml';
import { defaultModelsDir } from '../../src/models/generate';
import { uniqueName } from '../support/wait-for';
import { useE2eCluster } from '../e2e/e2e-helpers';
import { assertAlive, assertMemoryBounded, describeCase, forEachBounded, fuzzRun, rssOfAll, sampleCases } from './fuzz-support';

/**
 * Fuzzing the JobManager's job submission (`POST /jobs`): the REST body itself, and the topology YAML
 * inside a well-formed body, against a real JobManager process. Every request is answered with 200 or
 * a 4xx with an ErrorBody, never a 5xx (a submission is the client's to get right); a body that is not
 * JSON or a topology that is not YAML gets a 4xx; good submissions between them (one in fifty) are
 * accepted and listed; every job a case created is canceled; the JobManager stays up and bounded.
 * No TaskManager runs: submitted jobs are recorded, never served. TypeScript topologies are left out
 * (they are code, checked by their own tests).
 */
const ctx = useE2eCluster('fuzz-rest');

interface SubmitCase {
  readonly body: Buffer;
  readonly contentType: string;
  /** Cannot be a valid submission: must get a 4xx. */
  readonly mustFail: boolean;
  /** A good submission: must get 200. */
  readonly good?: boolean;
}

const CONCURRENCY = 8;
/** One good submission every GOOD_EVERY fuzzed ones (each is a real job, recorded and then canceled). */
const GOOD_EVERY = 50;
const TINY = join(defaultModelsDir(), 'tiny.onnx');
/** Names fuzzed jobs may take: unique per run, so a good submission never meets one. */
const CODE_FILE = /\.(c|m)?[jt]sx?$/i;

function goodTopology(i: number): string {
  return `name: ${uniqueName(`good-${i}`)}\nsource: { type: redis, partitions: ${1 + (Math.abs(i) % 3)} }\nbatch: { maxSize: 8, maxDelayMs: 1 }\nmodel: { path: ${TINY} }\nparallelism: 1\n`;
}

function submission(filename: string, source: string, baseDir = '/tmp'): Buffer {
  return Buffer.from(JSON.stringify({ topology: { filename, source, baseDir } }));
}

function goodSubmit(i: number): SubmitCase {
  return { body: submission(`good-${i}.yaml`, goodTopology(i)), contentType: 'application/json', mustFail: false, good: true };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function mutateText(base: string, alphabet: string): fc.Arbitrary<string> {
  return fc
    .record({
      edits: fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.constantFrom(...alphabet.split(''))), { maxLength: 4 }),
      cut: fc.option(fc.nat({ max: base.length }), { nil: undefined }),
    })
    .map(({ edits, cut }) => {
      const chars = base.split('');
      for (const [at, c] of edits) chars[at] = c;
      return chars.join('').slice(0, cut ?? base.length);
    });
}

/** The REST body: anything but a well-formed submission of a `.yaml` file, mostly. */
function bodyCases(): fc.Arbitrary<SubmitCase> {
  const valid = goodSubmit(0).body.toString();
  const filename = fc.oneof(fc.constantFrom('x.yaml', 'x.yml', 'x.json', 'x', '', 'x.YAML', '../x.yaml', 'a/b.yaml', '.yaml'), fc.string({ maxLength: 300 })).filter((f) => !CODE_FILE.test(f));
  const topology = fc.record(
    { filename: fc.oneof(filename, fc.jsonValue()), source: fc.oneof(fc.string({ maxLength: 200 }), fc.constant(goodTopology(0)), fc.jsonValue()), baseDir: fc.oneof(fc.string({ maxLength: 50 }), fc.jsonValue()), extra: fc.jsonValue() },
    { requiredKeys: [] },
  );
  const text = fc.oneof(
    fc.record({ topology }, { requiredKeys: [] }).map((b) => ({ text: JSON.stringify(b), mustFail: false })),
    fc.jsonValue().map((v) => ({ text: JSON.stringify(v) ?? 'null', mustFail: true })),
    mutateText(valid, '{}[]",:0aZ \\').map((t) => ({ text: t, mustFail: !isJson(t) })),
    fc.string({ maxLength: 200 }).map((t) => ({ text: t, mustFail: true })),
  );
  return fc
    .record({ t: text, contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', '') })
    .map(({ t, contentType }) => ({ body: Buffer.from(t.text), contentType, mustFail: t.mustFail || contentType !== 'application/json' }));
}

/** YAML text that may blow up a parser: alias fan-out, deep nesting, long scalars, odd tags. */
const hostileYaml = fc.oneof(
  fc.integer({ min: 2, max: 12 }).map((depth) => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let d = 1; d < depth; d++) lines.push(`a${d}: &a${d} [${Array.from({ length: 10 }, () => `*a${d - 1}`).join(', ')}]`);
    return `${lines.join('\n')}\nname: bomb\n`;
  }),
  fc.integer({ min: 1, max: 2000 }).map((n) => `name: deep\nsource: ${'['.repeat(n)}${']'.repeat(n)}\n`),
  fc.integer({ min: 1, max: 2000 }).map((n) => `name: deep\nsource: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `name: ${'n'.repeat(n)}\n`),
  fc.constantFrom('!!js/function "function () {}"', '!!binary AAAA', '? [a, b]\n: c', '<<: *nothing', 'name: !!int x', '%YAML 9.9\n---\nname: x', '---\n---\n---', '&a [*a]', 'name: *a'),
);

/** The topology YAML inside a well-formed submission. */
function yamlCases(): fc.Arbitrary<SubmitCase> {
  const valid = goodTopology(0);
  const topologyObject = fc.record(
    {
      name: fc.oneof(fc.string({ maxLength: 20 }).map((s) => `f${s}`), fc.jsonValue()),
      source: fc.oneof(fc.record({ type: fc.oneof(fc.constant('redis'), fc.string({ maxLength: 6 })), partitions: fc.oneof(fc.integer({ min: -2, max: 2000 }), fc.jsonValue()), protocol: fc.oneof(fc.constantFrom('native', 'bigdl'), fc.jsonValue()) }, { requiredKeys: ['type'] }), fc.jsonValue()),
      model: fc.oneof(fc.record({ path: fc.oneof(fc.constant(TINY), fc.constant('../../../../etc/passwd'), fc.string({ maxLength: 30 })) }), fc.jsonValue()),
      batch: fc.oneof(fc.record({ maxSize: fc.integer({ min: -1, max: 100_000 }), maxDelayMs: fc.oneof(fc.integer({ min: -1, max: 10_000 }), fc.double()) }, { requiredKeys: [] }), fc.jsonValue()),
      parallelism: fc.oneof(fc.integer({ min: -2, max: 2000 }), fc.jsonValue()),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  const source = fc.oneof(
    topologyObject.map((o) => stringify(o)),
    fc.jsonValue().map((v) => stringify(v)),
    mutateText(valid, ':{}[]-&*!|>\'"# \n\tab1'),
    fc.string({ maxLength: 300 }),
    hostileYaml,
  );
  return fc.record({ source, filename: fc.constantFrom('t.yaml', 't.yml') }).map(({ source: s, filename }) => ({ body: submission(filename, s), contentType: 'application/json', mustFail: false }));
}

async function fuzzSubmit(door: string, doorIndex: number, cases: fc.Arbitrary<SubmitCase>): Promise<void> {
  const { cases: n } = fuzzRun();
  const pool = new Pool(ctx.cluster.url, { connections: CONCURRENCY, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const call = async (method: Dispatcher.HttpMethod, path: string, body?: Buffer, contentType?: string): Promise<{ status: number; text: string }> => {
    const res = await pool.request({ method, path, body, headers: contentType ? { 'content-type': contentType } : {} });
    return { status: res.statusCode, text: await res.body.text() };
  };
  try {
    const first = await call('POST', '/jobs', goodSubmit(-1).body, 'application/json');
    assert.equal(first.status, 200, first.text);
    const memoryBefore = rssOfAll(ctx.cluster.processes);
    const fuzzed = sampleCases(cases, n, doorIndex);
    const all = fuzzed.flatMap((c, i) => (i % GOOD_EVERY === 0 ? [goodSubmit(i), c] : [c]));
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    const created: string[] = [];
    const goodIds: string[] = [];
    await forEachBounded(all, CONCURRENCY, async (c, i) => {
      let status: number;
      let text: string;
      try {
        ({ status, text } = await call('POST', '/jobs', c.body, c.contentType));
      } catch (err) {
        problems.push(`${describeCase(i, c.body.toString())}: no answer: ${String(err)}`);
        return;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const what = (): string => `${describeCase(i, { contentType: c.contentType, body: c.body.toString() })}: ${status} ${text.slice(0, 200)}`;
      if (status >= 500) problems.push(`5xx for ${what()}`);
      else if (status >= 400) {
        const b = (isJson(text) ? JSON.parse(text) : undefined) as { code?: unknown; message?: unknown } | undefined;
        if (typeof b?.code !== 'string' || typeof b.message !== 'string') problems.push(`an error without an ErrorBody: ${what()}`);
        if (c.good) problems.push(`good submission refused: ${what()}`);
      } else if (status === 200) {
        const jobId = (JSON.parse(text) as { jobId?: unknown }).jobId;
        if (typeof jobId !== 'string') problems.push(`200 without a job id: ${what()}`);
        else (c.good ? goodIds : created).push(jobId);
        if (c.mustFail) problems.push(`accepted: ${what()}`);
      } else problems.push(`unexpected status: ${what()}`);
    });
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
    // Good submissions are listed; every job the run created is canceled.
    const listed = new Set(((JSON.parse((await call('GET', '/jobs')).text) as { jobs: { id: string }[] }).jobs ?? []).map((j) => j.id));
    assert.deepEqual(goodIds.filter((id) => !listed.has(id)), [], 'accepted good submissions are listed');
    await forEachBounded([...goodIds, ...created, JSON.parse(first.text).jobId as string], CONCURRENCY, async (id) => {
      const res = await call('DELETE', `/jobs/${encodeURIComponent(id)}`);
      assert.equal(res.status, 200, res.text);
    });
    assertAlive(ctx.cluster.processes);
    assert.equal((await call('GET', '/overview')).status, 200);
    assertMemoryBounded(memoryBefore, rssOfAll(ctx.cluster.processes), `${door} door`);
    console.log(`${door} door: ${all.length} submissions (${goodIds.length} good), ${created.length} fuzzed ones accepted (canceled), statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  } finally {
    await pool.close();
  }
}

test('REST job submission door: fuzzed bodies get 200 or a 4xx with an ErrorBody, never a 5xx or no answer; good submissions between them are accepted', async () => {
  await fuzzSubmit('REST submit', 5, bodyCases());
});

test('topology YAML door: fuzzed YAML (bombs, deep nesting, damaged text) gets 200 or a 4xx, never a 5xx; good submissions between them are accepted', async () => {
  await fuzzSubmit('topology YAML', 6, yamlCases());
});
